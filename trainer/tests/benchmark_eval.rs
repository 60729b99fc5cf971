//! Issue 17, acceptance 3 (eval): a benchmark given by its spec only (no
//! code) is evaluated by `sluice eval`, and the CMMLU and GSM8K built-ins run
//! on data in their own layouts. A tiny model trained for two steps scores
//! them; the prompts it is asked are checked against hand-built requests.

#[allow(dead_code)]
mod util;

use clap::{Args, FromArgMatches};
use sluice_train::cli::{run_eval, EvalArgs};
use sluice_train::eval::{run_spec, EvalOptions, Scorer};
use sluice_train::train::train;
use std::path::Path;
use util::*;

fn eval_args(argv: &[&str]) -> Result<EvalArgs, String> {
    let cmd = EvalArgs::augment_args(clap::Command::new("eval")).no_binary_name(true);
    cmd.try_get_matches_from(argv).and_then(|m| EvalArgs::from_arg_matches(&m)).map_err(|e| e.to_string())
}

fn write(p: &Path, text: &str) {
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// A private quiz in a layout no built-in has: `{"stem", "options": [...], "key": "B"}`.
const QUIZ_SPEC: &str = "name: private_quiz
format: jsonl
files: [quiz/items.jsonl]
question: stem
choices: options
answer: key
answer_type: letter
prompt: \"Q: {question}\\nA:\"
target: \" {choice}\"
acc_norm: true
";

#[test]
fn benchmarks_given_by_spec_only_are_evaluated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A tokenizer, shards and a tiny model trained for two steps.
    let texts: Vec<String> = (0..60)
        .map(|i| {
            format!("Q: which animal {i} barks at the moon?\nA: the dog. 以下是关于农学的单项选择题 答案是：B. Question: how many {i}?")
        })
        .collect();
    let tok = sluice_train::refdata::train_bpe(&texts, 300).unwrap();
    let tpath = root.join("tokenizer.json");
    tok.save(&tpath, false).unwrap();
    let shards = root.join("shards");
    write_synthetic_shards(&shards, 300, 4000, 5);
    let run = root.join("run");
    train(&tiny_config(&shards, 300, 2), &run, false, None, &candle_core::Device::Cpu, &mut |_| {}).unwrap();

    // Data, in the eval directory `--data` points at.
    let data = root.join("data");
    let eval = data.join("eval");
    write(
        &eval.join("quiz/items.jsonl"),
        "{\"stem\": \"Which animal barks?\", \"options\": [\"the cat\", \"the dog\", \"the fish\"], \"key\": \"B\"}\n\
         {\"stem\": \"Which animal swims?\", \"options\": [\"the fish\", \"the dog\"], \"key\": \"A\"}\n",
    );
    write(&root.join("quiz.yaml"), QUIZ_SPEC);
    // CMMLU's layout: an unnamed index column, then `Question,A,B,C,D,Answer`.
    for (subject, q) in [("agronomy", "土壤的主要成分是什么"), ("college_law", "合同成立的要件是什么")] {
        write(
            &eval.join(format!("cmmlu/test/{subject}.csv")),
            &format!(",Question,A,B,C,D,Answer\n0,{q}？,甲,乙,丙,丁,B\n1,\"{q}, 第二题\",甲,乙,丙,丁,D\n"),
        );
        write(&eval.join(format!("cmmlu/dev/{subject}.csv")), ",Question,A,B,C,D,Answer\n0,示例题,一,二,三,四,C\n");
    }
    write(
        &eval.join("gsm8k/test.jsonl"),
        "{\"question\": \"Tom has 3 apples and buys 2. How many?\", \"answer\": \"3 + 2 = <<3+2=5>>5\\n#### 5\"}\n",
    );

    let (r, t, d) = (run.to_str().unwrap(), tpath.to_str().unwrap(), data.to_str().unwrap());
    let spec = root.join("quiz.yaml");
    let json = root.join("eval.json");
    let base = ["--checkpoint", r, "--tokenizer", t, "--data", d, "--json", json.to_str().unwrap(), "--save-items"];

    // `--benchmark` alone runs that benchmark, reported under its own name.
    let mut argv = base.to_vec();
    argv.extend(["--benchmark", spec.to_str().unwrap()]);
    run_eval(&eval_args(&argv).unwrap()).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let res = out["results"].as_array().unwrap();
    assert_eq!(res.len(), 1, "{out}");
    assert_eq!(res[0]["task"], "private_quiz");
    assert_eq!(res[0]["n"], 2);
    let metrics = res[0]["metrics"].as_object().unwrap();
    assert_eq!(metrics.keys().collect::<Vec<_>>(), vec!["acc", "acc_norm"]);

    // The scores are those of the prompts the spec describes, built by hand.
    let scorer = Scorer::load(&run, Some(&tpath), &candle_core::Device::Cpu, 4).unwrap();
    let items = res[0]["items"].as_array().unwrap();
    let hand = [
        ("Q: Which animal barks?\nA:", vec![" the cat", " the dog", " the fish"], 1),
        ("Q: Which animal swims?\nA:", vec![" the fish", " the dog"], 0),
    ];
    let mut correct = 0;
    for (item, (prompt, conts, gold)) in items.iter().zip(hand) {
        let reqs: Vec<_> = conts.iter().map(|c| scorer.request(prompt, c).unwrap()).collect();
        let want: Vec<f64> = scorer.score(&reqs).unwrap().iter().map(|s| s.logprob).collect();
        let got: Vec<f64> = item["logprobs"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-4, "{got:?} vs {want:?}");
        }
        assert_eq!(item["gold"], gold);
        let pred = item["pred"].as_u64().unwrap() as usize;
        assert_eq!(pred, (0..want.len()).fold(0, |b, i| if want[i] > want[b] { i } else { b }));
        correct += (pred == gold) as usize;
    }
    assert_eq!(metrics["acc"].as_f64().unwrap(), correct as f64 / 2.0);

    // The CMMLU and GSM8K built-ins, by name, on data in their layouts.
    let opts = EvalOptions { data_dir: data.clone(), limit: None, shots: 1, save_items: true };
    let cmmlu = sluice_safety::benchmark::builtin("cmmlu").unwrap();
    let res = run_spec(&scorer, cmmlu, &opts).unwrap();
    assert_eq!((res.task.as_str(), res.n), ("cmmlu", 4));
    let first = &res.items.as_ref().unwrap()[0];
    assert_eq!(first.gold, 1);
    let prompt = "以下是关于agronomy的单项选择题，请直接给出正确答案的选项。\n\n示例题\nA. 一\nB. 二\nC. 三\nD. 四\n答案是：C\n\n土壤的主要成分是什么？\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案是：";
    let want: Vec<f64> =
        scorer.score(&["A", "B", "C", "D"].map(|l| scorer.request(prompt, l).unwrap())).unwrap().iter().map(|s| s.logprob).collect();
    for (g, w) in first.logprobs.iter().zip(&want) {
        assert!((g - w).abs() < 1e-4, "{:?} vs {want:?}", first.logprobs);
    }
    let gsm = run_spec(&scorer, sluice_safety::benchmark::builtin("gsm8k").unwrap(), &opts).unwrap();
    assert_eq!(gsm.n, 1);
    assert_eq!(gsm.metrics.keys().collect::<Vec<_>>(), vec!["acc", "perplexity"]);
    let want = scorer
        .score(&[scorer.request("Question: Tom has 3 apples and buys 2. How many?\nAnswer:", " 3 + 2 = <<3+2=5>>5\n#### 5").unwrap()])
        .unwrap()[0];
    assert!((gsm.metrics["perplexity"] - (-want.logprob).exp()).abs() < 1e-6 * gsm.metrics["perplexity"]);

    // `--tasks` names built-ins and given specs together; mistakes are refused
    // before any scoring, every one of them.
    let mut argv = base.to_vec();
    argv.extend(["--benchmark", spec.to_str().unwrap(), "--tasks", "cmmlu,private_quiz,gsm8k", "--limit", "1"]);
    run_eval(&eval_args(&argv).unwrap()).unwrap();
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let names: Vec<&str> = out["results"].as_array().unwrap().iter().map(|r| r["task"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["cmmlu", "private_quiz", "gsm8k"]);
    let a = eval_args(&["--checkpoint", r, "--benchmark", spec.to_str().unwrap(), "--tasks", "cmmlu,nope"]).unwrap();
    let e = a.resolve_tasks().unwrap_err();
    assert!(e.iter().any(|m| m.contains("unknown task \"nope\"")), "{e:?}");
    assert!(e.iter().any(|m| m.contains("`private_quiz` is given but --tasks does not name it")), "{e:?}");
    write(&root.join("bad.yaml"), &QUIZ_SPEC.replace("answer_type: letter", "answer_type: letter\nshuffle: true"));
    let a = eval_args(&["--checkpoint", r, "--benchmark", root.join("bad.yaml").to_str().unwrap()]).unwrap();
    let e = a.resolve_tasks().unwrap_err();
    assert!(e[0].contains("bad.yaml") && e[0].contains("unknown field `shuffle`"), "{e:?}");
    // A field the data lacks: the error names the file, the record and the field.
    write(
        &eval.join("quiz/items.jsonl"),
        "{\"stem\": \"Which?\", \"options\": [\"a\", \"b\"], \"key\": \"A\"}\n{\"stem\": \"Which?\", \"options\": [\"a\", \"b\"]}\n",
    );
    let spec = sluice_safety::BenchmarkSpec::from_file(&spec).unwrap();
    let e = run_spec(&scorer, &spec, &opts).unwrap_err().to_string();
    assert!(e.contains("quiz/items.jsonl: line 2: no field `key`"), "{e}");
}
