//! Trains a model: `cargo run --release -p sluice-fasttext --example train --
//! INPUT OUTPUT [dim=N] [epoch=N] [lr=X] [ngrams=N] [minn=N] [maxn=N] [bucket=N] [loss=softmax|ova|hs] [seed=N]`;
//! prints the training report.

use sluice_fasttext::{train, Loss, TrainArgs};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        return Err("usage: train INPUT OUTPUT [key=value ...]".into());
    }
    let mut t = TrainArgs::default();
    for kv in &a[3..] {
        let (k, v) = kv.split_once('=').ok_or("options are key=value")?;
        match k {
            "dim" => t.dim = v.parse()?,
            "epoch" => t.epoch = v.parse()?,
            "lr" => t.lr = v.parse()?,
            "ngrams" => t.word_ngrams = v.parse()?,
            "minn" => t.minn = v.parse()?,
            "maxn" => t.maxn = v.parse()?,
            "bucket" => t.bucket = v.parse()?,
            "seed" => t.seed = v.parse()?,
            "loss" => t.loss = Loss::parse(v).ok_or("unknown loss")?,
            _ => return Err(format!("unknown option {k}").into()),
        }
    }
    let (model, report) = train(a[1].as_ref(), &t)?;
    model.save(a[2].as_ref())?;
    println!("{report:?}\ntokens/s {:.0}", report.tokens_per_second());
    Ok(())
}
