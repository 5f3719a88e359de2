//! A WebSocket test client (tokio-tungstenite) that keeps every frame it receives.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket client collecting every frame it receives.
pub struct Client {
    pub tx: futures::stream::SplitSink<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Message,
    >,
    pub frames: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
}

impl Client {
    pub async fn connect(base: &str) -> Client {
        let url = format!("{}/ws", super::ws_base(base));
        let (ws, _) = super::ws_connect(url).await.expect("the WebSocket opens");
        let (tx, mut rx) = ws.split();
        let frames = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = frames.clone();
        tokio::spawn(async move {
            while let Some(Ok(m)) = rx.next().await {
                if let Message::Text(t) = m {
                    sink.lock()
                        .unwrap()
                        .push(serde_json::from_str(t.as_str()).unwrap());
                }
            }
        });
        Client { tx, frames }
    }

    pub async fn send(&mut self, v: Value) {
        self.tx
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    pub fn of_type(&self, t: &str) -> Vec<Value> {
        self.frames
            .lock()
            .unwrap()
            .iter()
            .filter(|f| f["type"] == t)
            .cloned()
            .collect()
    }

    pub async fn wait_for(&self, t: &str, n: usize) {
        let start = Instant::now();
        while self.of_type(t).len() < n {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no {t} frame; got {:?}",
                self.frames.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
