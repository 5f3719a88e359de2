//! `streamq bench ask`: plain-English latency — parse (no execution) and end-to-end ask over
//! a question file, on a store that has replayed a data file — plus the encoder's own cost
//! and the reliability of the answers.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;

use crate::bench::summary_ms;
use crate::config::{Config, SourceKind};
use crate::llm::{AskReply, encoder::Encoder};
use crate::node::Node;

pub async fn run(file: PathBuf, questions: PathBuf, rounds: usize) -> anyhow::Result<()> {
    let file_qs: Vec<serde_json::Value> = std::fs::read_to_string(&questions)
        .with_context(|| format!("reading {}", questions.display()))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect::<anyhow::Result<_>>()?;
    let qs: Vec<(String, Option<String>)> = file_qs
        .iter()
        .map(|v| {
            (
                v["question"].as_str().unwrap_or("").to_string(),
                v["as_of"].as_str().map(str::to_string),
            )
        })
        .collect();
    let cfg0 = Config::default();
    let model_dir = cfg0.llm.model_dir.clone();

    // the encoder alone
    let enc = Encoder::load(&model_dir)?;
    let sample: Vec<&str> = qs.iter().take(8).map(|q| q.0.as_str()).collect();
    enc.embed(&sample)?;
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..10 {
            f();
        }
        t.elapsed().as_secs_f64() * 1e3 / 10.0
    };
    let one_q = time(&|| {
        enc.embed(&[sample[0]]).ok();
    });
    let one_w = time(&|| {
        enc.embed(&["rejected"]).ok();
    });
    let batch = time(&|| {
        enc.embed(&sample).ok();
    });
    println!(
        "bench ask: encoder (no padding): one question {one_q:.1} ms, one word {one_w:.1} ms, a batch of {} questions {batch:.1} ms",
        sample.len()
    );
    drop(enc);

    let tmp = std::env::temp_dir().join(format!("streamq-bench-ask-{}", std::process::id()));
    let mut cfg = Config {
        data_dir: tmp.clone(),
        ..Config::default()
    };
    cfg.source.kind = SourceKind::Replay;
    cfg.source.file = Some(file.clone());
    let node = Node::start(cfg.clone(), true).await?;
    let (took, read) = node.ingest_to_end().await?;
    println!(
        "bench ask: replayed {read} events of {} in {:.1} s",
        file.display(),
        took.as_secs_f64()
    );
    let assistant = node.assistant.clone();
    let t = Instant::now();
    assistant.parse("warm up", None).await?;
    println!(
        "bench ask: catalog snapshot (value statistics through SQL + embedding columns and values) {:.0} ms, once per catalog change",
        t.elapsed().as_secs_f64() * 1e3
    );
    let mut cold = Vec::new();
    for (q, as_of) in &qs {
        cold.push(assistant.parse(q, as_of.as_deref()).await?.1);
    }
    let mut warm = Vec::new();
    let mut e2e = Vec::new();
    let mut clarified = 0;
    let mut reliability = crate::llm::reliability::Reliability::new();
    for round in 0..rounds {
        for ((q, as_of), v) in qs.iter().zip(&file_qs) {
            warm.push(assistant.parse(q, as_of.as_deref()).await?.1);
            let t = Instant::now();
            let reply = assistant
                .ask(q, as_of.as_deref(), &crate::privacy::sight::Sight::All)
                .await;
            e2e.push(t.elapsed().as_secs_f64() * 1e3);
            let expected: Option<Vec<Vec<serde_json::Value>>> =
                serde_json::from_value(v["expected"]["rows"].clone()).ok();
            match reply {
                Ok(AskReply::Clarify { .. }) => {
                    clarified += 1;
                    if round == 0 {
                        reliability.clarified += 1;
                    }
                }
                Ok(AskReply::Answer(a)) if round == 0 => {
                    if let Some(e) = &expected {
                        let ordered =
                            crate::llm::reliability::is_ordered(v["sql"].as_str().unwrap_or(""));
                        reliability.add(
                            a.confidence,
                            crate::llm::reliability::matches(e, &a.rows, ordered),
                        );
                    }
                }
                Ok(_) => {}
                Err(e) if round == 0 => {
                    println!("bench ask: {q}: {e}");
                    reliability.add(0.0, false);
                }
                Err(_) => {}
            }
        }
    }
    println!(
        "bench ask: parse, first sight of each question (encoder runs for unmatched words): {}",
        summary_ms(cold)
    );
    println!(
        "bench ask: parse, repeated (embeddings cached): {}",
        summary_ms(warm)
    );
    println!(
        "bench ask: end-to-end ask (parse + DataFusion + answer): {}; {clarified} clarifications",
        summary_ms(e2e)
    );
    println!(
        "bench ask: reliability of the first round's answers against the questions' expected results\n{}",
        reliability.table()
    );
    node.stop().await;
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
