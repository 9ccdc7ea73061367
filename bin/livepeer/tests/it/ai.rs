//! AI from a shell, as a user tries it: `livepeer demo --ai` runs one request per built-in CPU
//! pipeline through a gateway and an orchestrator (real models), then keeps serving; `livepeer
//! ai <pipeline>` sends requests to that gateway and prints or saves what comes back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::livepeer_command;

/// The demo process, its stdout lines so far and the line source.
struct Demo {
    child: Child,
    lines: Vec<String>,
    rx: mpsc::Receiver<String>,
}

impl Demo {
    fn start(out: &std::path::Path) -> Self {
        let mut child = livepeer_command()
            .args(["demo", "--ai", "--offchain", "--out"])
            .arg(out)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Self {
            child,
            lines: Vec::new(),
            rx,
        }
    }

    /// Reads lines until one contains `needle` (the demo's models load and its four requests
    /// run on a CPU, so this may take minutes).
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            match self.rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    self.lines.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = self.child.wait();
                    panic!(
                        "the demo ended before {needle:?}:\n{}",
                        self.lines.join("\n")
                    );
                }
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("no {needle:?} within 10 min:\n{}", self.lines.join("\n"));
            }
        }
    }

    /// The first line so far starting (after indentation) with `prefix`.
    fn line(&self, prefix: &str) -> &str {
        self.lines
            .iter()
            .map(|l| l.trim_start())
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{}", self.lines.join("\n")))
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text between the first pair of double quotes of `line`.
fn quoted(line: &str) -> &str {
    line.split('"').nth(1).unwrap_or_default()
}

fn ai(gateway: &str, args: &[&str]) -> std::process::Output {
    livepeer_command()
        .arg("ai")
        .args(args)
        .args(["--gateway", gateway])
        .output()
        .expect("the binary runs")
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn last_stderr_line(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr)
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// `livepeer demo --ai` on the paid network (its default): every pipeline answers through
/// the devnet's gateway and orchestrator nodes, each request paid in tickets, the winners
/// redeemed from the gateway's deposit.
#[test]
fn the_paid_ai_demo_pays_for_every_request_and_redeems_the_winners() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livepeer_command()
        .args(["demo", "--ai", "--exit", "--out"])
        .arg(dir.path())
        .output()
        .expect("the binary runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |prefix: &str| -> &str {
        text.lines()
            .map(str::trim_start)
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line:\n{text}"))
    };
    assert!(line("orchestrator https://127.0.0.1:").contains("  gateway http://127.0.0.1:"));
    assert_eq!(quoted(line("read \"")), "LIVEPEER AI ON A CPU", "{text}");
    assert!(line("answer: ").contains("Paris"), "{text}");
    let count = |label: &str| -> u64 {
        line(label)[label.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{label}: {text}"))
    };
    assert!(count("tickets sent by the gateway") >= 4, "{text}");
    assert_eq!(
        count("tickets received"),
        count("tickets sent by the gateway"),
        "{text}"
    );
    assert_eq!(
        count("tickets redeemed on chain"),
        count("winning tickets"),
        "every winner redeemed: {text}"
    );
    // Fees: the sum of units × price of the four requests, well above zero.
    assert!(!line("fees charged").contains(" 0.000000 ETH"), "{text}");
    assert!(
        line("gateway deposit").starts_with("gateway deposit  100.000000 ETH -> "),
        "{text}"
    );
}

#[test]
fn the_ai_demo_runs_every_cpu_pipeline_and_livepeer_ai_uses_its_gateway() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut demo = Demo::start(dir.path());
    let serving = demo.wait_for("serving until Ctrl-C");
    let network = demo.line("orchestrator https://").to_string();
    let gateway = network
        .split("gateway ")
        .nth(1)
        .expect("the gateway's URL")
        .trim()
        .to_string();
    assert!(gateway.starts_with("http://127.0.0.1:"), "{network}");
    assert!(serving.contains(&gateway), "{serving}");

    // One answer per pipeline, each right.
    let said = demo.line("said \"");
    let wav = dir.path().join("ai").join("text-to-speech-0.wav");
    assert!(said.contains(&wav.display().to_string()), "{said}");
    assert_eq!(&std::fs::read(&wav).expect("the speech")[..4], b"RIFF");
    let heard = demo.line("heard \"").to_string();
    let wer: f64 = heard
        .rsplit("word error rate ")
        .next()
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{heard}"));
    assert!(wer <= 30.0, "{heard}");
    let read = demo.line("read \"").to_string();
    assert_eq!(quoted(&read), "LIVEPEER AI ON A CPU", "{read}");
    let answer = demo.line("answer: ").to_string();
    assert!(answer.contains("Paris"), "{answer}");
    for pipeline in ["text-to-speech", "audio-to-text", "image-to-text", "llm"] {
        let header = demo.line(&format!("{pipeline} ("));
        assert!(header.ends_with(')'), "{header}");
    }
    let timing = demo.line("took ");
    assert!(timing.ends_with(" s") || timing.contains(" s,"), "{timing}");
    let llm_timing = demo
        .lines
        .iter()
        .rfind(|l| l.trim_start().starts_with("took "))
        .expect("the llm's timing");
    assert!(
        llm_timing.contains("completion tokens") && llm_timing.contains("first after"),
        "{llm_timing}"
    );

    // `livepeer ai` against the demo's gateway.
    let saved = tempfile::tempdir().expect("temp dir");
    let out = ai(
        &gateway,
        &[
            "text-to-speech",
            "Hello from the command line",
            "--model",
            TTS_MODEL,
            "--out",
            saved.path().to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", last_stderr_line(&out));
    let speech = saved.path().join("text-to-speech-0.wav");
    assert_eq!(stdout(&out).trim(), format!("saved {}", speech.display()));
    assert_eq!(&std::fs::read(&speech).expect("saved wav")[..4], b"RIFF");

    let out = ai(
        &gateway,
        &[
            "audio-to-text",
            "--audio",
            speech.to_str().expect("utf-8"),
            "--model",
            "openai/whisper-tiny.en",
        ],
    );
    assert!(out.status.success(), "{}", last_stderr_line(&out));
    let text = stdout(&out).to_lowercase();
    assert!(
        text.contains("hello") && text.contains("command line"),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.trim_start().starts_with('[')),
        "chunks: {text}"
    );

    let out = ai(
        &gateway,
        &[
            "llm",
            "What is the capital of France? Answer in one word.",
            "--model",
            "HuggingFaceTB/SmolLM2-135M-Instruct",
            "--param",
            "temperature=0",
            "--param",
            "max_tokens=16",
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", last_stderr_line(&out));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let content = json["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(content.contains("Paris"), "{json}");
    let usage = &json["usage"];
    let count = |field: &str| {
        usage[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field}: {json}"))
    };
    assert_eq!(
        count("total_tokens"),
        count("prompt_tokens") + count("completion_tokens")
    );
    assert!(count("completion_tokens") > 0);
    assert!(
        last_stderr_line(&out).starts_with("llm: "),
        "timing on stderr"
    );

    // Errors a user makes, said in one line.
    let out = ai(&gateway, &["text-to-image", "a lighthouse at dusk"]);
    assert!(!out.status.success());
    assert_eq!(
        last_stderr_line(&out),
        "error: the gateway answered 503: Service Unavailable Error (no --model given: the \
         gateway asked for its default text-to-image model, stabilityai/sdxl-turbo)"
    );
    let out = ai(
        &gateway,
        &[
            "text-to-speech",
            "hi",
            "--model",
            "parler-tts/parler-tts-large-v1",
        ],
    );
    assert_eq!(
        last_stderr_line(&out),
        "error: the gateway answered 503: Service Unavailable Error"
    );
    let out = ai(&gateway, &["image-to-text"]);
    assert_eq!(
        last_stderr_line(&out),
        "error: image-to-text needs --image <file>"
    );
    let out = ai(&gateway, &["llm", "hi", "--param", "temprature=0"]);
    let last = last_stderr_line(&out);
    assert!(
        last.starts_with("error: --param temprature: llm has no such field")
            && last.contains("temperature"),
        "{last}"
    );
    let out = ai(&gateway, &["llm", "hi", "--param", "max_tokens=many"]);
    assert_eq!(
        last_stderr_line(&out),
        "error: max_tokens: Input should be a valid integer, unable to parse string as an integer"
    );

    // Ctrl-C ends the demo cleanly.
    let status = Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(exit) = demo.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(Instant::now() < deadline, "the demo ignored Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");
}

/// A text-to-speech request to `gateway`'s public API: (status, JSON body).
async fn speak(gateway: &str, text: &str) -> (u16, serde_json::Value) {
    let answer = livepeer_testing::request(
        &livepeer_testing::http(),
        hyper::Method::POST,
        &format!("{gateway}/text-to-speech"),
        &[("content-type", "application/json")],
        bytes::Bytes::from(serde_json::json!({"model_id": TTS_MODEL, "text": text}).to_string()),
    )
    .await;
    (
        answer.status.as_u16(),
        serde_json::from_slice(&answer.body).unwrap_or_default(),
    )
}

/// The built-in text-to-speech runner's model id.
const TTS_MODEL: &str = "espeak-ng/espeak-ng";
/// The built-in LLM's model id.
const LLM_MODEL: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";
/// The built-in speech recognizer's model id.
const STT_MODEL: &str = "openai/whisper-tiny.en";
/// The built-in OCR's model id.
const OCR_MODEL: &str = "PaddlePaddle/PP-OCRv4_mobile_rec";
/// Devnet prices, wei per unit: each request below costs about one ticket EV (0.004 ETH).
const LLM_PRICE: u128 = 250_000_000_000_000;
const STT_PRICE: u128 = 1_000_000_000_000;
const OCR_PRICE: u128 = 50_000_000_000;

/// The orchestrator's payment counters from its `/status`.
async fn orchestrator_payments(account: &serde_json::Value) -> serde_json::Value {
    crate::network::node_status(account).await["orchestrator"]["payments"].clone()
}

/// A wei amount of `/status` (a U256: hex or decimal string).
fn wei(v: &serde_json::Value) -> u128 {
    v.as_str()
        .and_then(|s| s.parse::<alloy::primitives::U256>().ok())
        .and_then(|w| u128::try_from(w).ok())
        .unwrap_or_else(|| panic!("not wei: {v}"))
}

/// On devnet an AI request is paid in tickets: the orchestrator charges exactly units × its
/// price for every CPU pipeline (text-to-speech: one unit per character), and a gateway whose
/// max price for the pipeline falls below the orchestrator's finds no orchestrator for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_devnet_an_ai_request_costs_units_times_price_and_a_lower_max_price_finds_no_one() {
    // 10^14 wei a character: a 40-character request costs about one devnet ticket EV.
    const PRICE: u128 = 100_000_000_000_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let devnet = crate::network::DevnetProcess::start_with_ai_models(
        &serde_json::json!([
            {"pipeline": "text-to-speech", "model_id": TTS_MODEL, "warm": true,
             "price_per_unit": PRICE as u64, "pixels_per_unit": 1},
            {"pipeline": "llm", "model_id": LLM_MODEL, "warm": true,
             "price_per_unit": LLM_PRICE as u64, "pixels_per_unit": 1},
            {"pipeline": "audio-to-text", "model_id": STT_MODEL, "warm": true,
             "price_per_unit": STT_PRICE as u64, "pixels_per_unit": 1},
            {"pipeline": "image-to-text", "model_id": OCR_MODEL, "warm": true,
             "price_per_unit": OCR_PRICE as u64, "pixels_per_unit": 1},
        ]),
        &["--round-length", "200"],
    );
    let gateway = devnet.gateway_url();
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let gateway_account = devnet.accounts("gateway")[0].clone();
    let set_max = |price: u128| {
        format!(
            "maxPricePerUnit={price}&pixelsPerUnit=1&currency=WEI&pipeline=text-to-speech&modelID={TTS_MODEL}"
        )
    };
    // A max price per pixel far below the AI price does not apply to a capability with its
    // own max price (go's GetCapabilitiesMaxPrice), from the first discovery on.
    let answer = crate::network::cli_post(
        &gateway_account,
        "/setBroadcastConfig",
        "maxPricePerUnit=1&pixelsPerUnit=1&currency=WEI",
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK);
    let answer = crate::network::cli_post(
        &gateway_account,
        "/setMaxPriceForCapability",
        &set_max(PRICE),
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK);
    let before = orchestrator_payments(&orchestrator).await;

    let text = "The gateway pays for every character said.";
    let (status, body) = speak(&gateway, text).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["audio"]["url"]
            .as_str()
            .is_some_and(|u| u.ends_with(".wav")),
        "{body}"
    );
    let after = orchestrator_payments(&orchestrator).await;
    let units = text.chars().count() as u128;
    assert_eq!(
        wei(&after["feesWei"]) - wei(&before["feesWei"]),
        units * PRICE,
        "charged units × price: {before} → {after}"
    );
    assert!(
        after["ticketsReceived"].as_u64() > before["ticketsReceived"].as_u64(),
        "paid in tickets: {after}"
    );

    // The gateway's max price for text-to-speech just below the orchestrator's: no one.
    let answer = crate::network::cli_post(
        &gateway_account,
        "/setMaxPriceForCapability",
        &set_max(PRICE - 1),
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK);
    let (status, body) = speak(&gateway, text).await;
    assert_eq!(
        (status, &body),
        (
            503,
            &serde_json::json!({"error": {"message": "Service Unavailable Error"}})
        )
    );
    let unpaid = orchestrator_payments(&orchestrator).await;
    assert_eq!(unpaid["feesWei"], after["feesWei"], "nothing charged");
    // At the orchestrator's price it is served again.
    let answer = crate::network::cli_post(
        &gateway_account,
        "/setMaxPriceForCapability",
        &set_max(PRICE),
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK);
    let (status, body) = speak(&gateway, text).await;
    assert_eq!(status, 200, "{body}");
    let last = orchestrator_payments(&orchestrator).await;
    assert_eq!(
        wei(&last["feesWei"]) - wei(&after["feesWei"]),
        units * PRICE
    );

    // The other CPU pipelines, paid the same way, each charged its own units × its price:
    // llm max_tokens, audio-to-text whole seconds × 1000, image-to-text the image's pixels.
    let wav = dir.path().join("speech.wav");
    let fetched = livepeer_testing::request(
        &livepeer_testing::http(),
        hyper::Method::GET,
        &format!("{gateway}{}", body["audio"]["url"].as_str().expect("url")),
        &[],
        bytes::Bytes::new(),
    )
    .await;
    std::fs::write(&wav, &fetched.body).expect("speech.wav");
    let probe = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&wav)
        .output()
        .expect("ffprobe runs");
    let seconds: f64 = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .parse()
        .expect("a duration");
    let image = dir.path().join("text.png");
    let drawn = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "color=c=white:s=640x120:d=1",
        ])
        .args([
            "-vf",
            &format!(
                "drawtext=fontfile={}:text=PAID:fontsize=60:x=20:y=30",
                livepeer_node::ai_demo::DEMO_FONT
            ),
        ])
        .args(["-frames:v", "1"])
        .arg(&image)
        .status()
        .expect("ffmpeg runs");
    assert!(drawn.success());
    let cases: [(&[&str], u128, u128); 3] = [
        (
            &[
                "llm",
                "Say hi.",
                "--model",
                LLM_MODEL,
                "--param",
                "max_tokens=16",
            ],
            16,
            LLM_PRICE,
        ),
        (
            &[
                "audio-to-text",
                "--model",
                STT_MODEL,
                "--audio",
                wav.to_str().expect("utf-8"),
            ],
            seconds.floor() as u128 * 1000,
            STT_PRICE,
        ),
        (
            &[
                "image-to-text",
                "--model",
                OCR_MODEL,
                "--image",
                image.to_str().expect("utf-8"),
            ],
            640 * 120,
            OCR_PRICE,
        ),
    ];
    // A pipeline without its own max price falls under the max price per pixel (1 wei,
    // set above): no orchestrator; without that max it is served.
    let out = ai(&gateway, &[cases[0].0, &["--json"]].concat());
    assert_eq!(
        last_stderr_line(&out),
        "error: the gateway answered 503: Service Unavailable Error"
    );
    let answer = crate::network::cli_post(
        &gateway_account,
        "/setBroadcastConfig",
        "maxPricePerUnit=0&pixelsPerUnit=1&currency=WEI",
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK);
    let mut fees = wei(&last["feesWei"]);
    for (args, units, price) in cases {
        let out = ai(&gateway, &[args, &["--json"]].concat());
        assert!(out.status.success(), "{args:?}: {}", last_stderr_line(&out));
        let now = wei(&orchestrator_payments(&orchestrator).await["feesWei"]);
        assert_eq!(now - fees, units * price, "{args:?}");
        fees = now;
    }
}

/// On devnet a remote AI worker does the work and its orchestrator is paid for it: the
/// orchestrator (`--orchSecret`, pricing text-to-speech but running no runner of its own)
/// advertises the model once `livepeer -aiWorker` registers, and a request through the
/// gateway costs exactly one unit per character at its price, in tickets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_devnet_a_remote_ai_workers_job_is_paid_to_its_orchestrator() {
    const PRICE: u128 = 100_000_000_000_000;
    const SECRET: &str = "devnet-ai-secret";
    let devnet = crate::network::DevnetProcess::start_with_ai_models(
        &serde_json::json!([{"pipeline": "text-to-speech", "model_id": TTS_MODEL,
            "warm": true, "price_per_unit": PRICE as u64, "pixels_per_unit": 1}]),
        &["--round-length", "200", "--orchSecret", SECRET],
    );
    let gateway = devnet.gateway_url();
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let service = orchestrator["serviceUri"]
        .as_str()
        .expect("serviceUri")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    // No runner of its own: nothing is served until the worker comes.
    let (status, _) = speak(&gateway, "Nobody is here yet.").await;
    assert_eq!(status, 503);
    let worker = crate::remote::Proc::start(&[
        "-aiWorker",
        "-orchAddr",
        &service,
        "-orchSecret",
        SECRET,
        "-aiModels",
        &format!("text-to-speech:{TTS_MODEL}:true"),
        "-cliAddr",
        &format!("127.0.0.1:{}", crate::remote::port()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = crate::network::node_status(&orchestrator).await;
        if status["orchestrator"]["aiWorkers"]
            .as_array()
            .is_some_and(|w| w.len() == 1)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never registered: {status}\n{}",
            worker.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = orchestrator_payments(&orchestrator).await;
    let text = "A remote worker said this, and was paid.";
    // The first request left the gateway's pool for the model empty: this one rediscovers.
    let (status, body) = speak(&gateway, text).await;
    assert_eq!(status, 200, "{body}\n{}", worker.log());
    let after = orchestrator_payments(&orchestrator).await;
    assert_eq!(
        wei(&after["feesWei"]) - wei(&before["feesWei"]),
        text.chars().count() as u128 * PRICE,
        "units × price: {before} → {after}"
    );
    assert!(
        after["ticketsReceived"].as_u64() > before["ticketsReceived"].as_u64(),
        "paid in tickets: {after}"
    );
}
