//! `-aiModels`: the AI models an orchestrator or AI worker serves (go-livepeer `core/ai.go`
//! `ParseAIModelConfigs`, `reference/ai.md` §2.1).
//!
//! The flag is a path to a JSON file holding an array of entries, or an inline list
//! `pipeline:model_id:warm[,…]`. Each entry is served by a built-in runner (no `url`) or by an
//! external runner at `url` (the real ai-runner, or our own `livepeer ai-runner`).

use std::path::Path;

use livepeer_pm::PriceInfo;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::pipeline::Pipeline;

/// The gateway key of a price that applies to every gateway.
pub const DEFAULT_GATEWAY: &str = "default";

/// One `aiModels.json` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct AiModelConfig {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The model id (a Hugging Face id; for live-video-to-video the live pipeline's name).
    pub model_id: String,
    /// An external runner's base URL; `None` for a built-in runner.
    pub url: Option<String>,
    /// The bearer token sent to the external runner.
    pub token: Option<String>,
    /// Kept loaded from start (advertised as `warm` in the model constraints).
    pub warm: bool,
    /// Concurrent requests this entry takes (default 1).
    pub capacity: u32,
    /// `optimization_flags`, passed to runners as environment variables (kept for
    /// compatibility; the built-in runners take none).
    pub optimization_flags: serde_json::Map<String, serde_json::Value>,
    /// The price per `pixels_per_unit` billing units, when the entry sets one (else the
    /// node's `-pricePerUnit`).
    pub price: Option<PriceInfo>,
    /// `currency`: `""`/`wei` only (fiat prices need a price feed, not supported yet).
    pub currency: String,
    /// The gateway address this price is for, or [`DEFAULT_GATEWAY`].
    pub gateway: String,
}

/// Why `-aiModels` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AiConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// The I/O error.
        reason: String,
    },
    /// The JSON is not an array of entries.
    #[error("invalid aiModels JSON: {0}")]
    Json(String),
    /// An inline entry is not `pipeline:model_id:warm`.
    #[error("invalid AI model config expected <pipeline>:<model_id>:<warm>")]
    Inline,
    /// An inline `warm` is not a boolean.
    #[error("invalid warm value {0:?}")]
    Warm(String),
    /// An unknown pipeline.
    #[error("{0} is not a valid pipeline")]
    Pipeline(String),
    /// A price that is negative, not a number, or too precise to carry on the wire.
    #[error("invalid price for {model_id}: {reason}")]
    Price {
        /// The entry's model.
        model_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The same model configured both warm and cold for one pipeline (go-livepeer panics).
    #[error("{pipeline} model {model_id} is configured both warm and cold")]
    WarmAndCold {
        /// The pipeline.
        pipeline: Pipeline,
        /// The model.
        model_id: String,
    },
    /// A currency other than wei.
    #[error("currency {0:?} is not supported (only wei)")]
    Currency(String),
}

#[derive(Deserialize)]
struct Entry {
    pipeline: String,
    model_id: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    token: String,
    #[serde(default)]
    warm: bool,
    #[serde(default)]
    capacity: i64,
    #[serde(default)]
    optimization_flags: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    price_per_unit: Option<Box<RawValue>>,
    #[serde(default)]
    pixels_per_unit: Option<Box<RawValue>>,
    #[serde(default)]
    currency: String,
}

/// Parses `-aiModels`: a JSON file if `arg` names one, else the inline form.
///
/// Errors: see [`AiConfigError`].
pub fn parse_ai_models(arg: &str) -> Result<Vec<AiModelConfig>, AiConfigError> {
    let path = Path::new(arg);
    let configs = if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| AiConfigError::Read {
            path: arg.to_string(),
            reason: e.to_string(),
        })?;
        parse_json(&text)?
    } else {
        parse_inline(arg)?
    };
    for (i, a) in configs.iter().enumerate() {
        if configs[..i]
            .iter()
            .any(|b| b.pipeline == a.pipeline && b.model_id == a.model_id && b.warm != a.warm)
        {
            return Err(AiConfigError::WarmAndCold {
                pipeline: a.pipeline,
                model_id: a.model_id.clone(),
            });
        }
    }
    Ok(configs)
}

/// Parses the JSON array form.
pub fn parse_json(text: &str) -> Result<Vec<AiModelConfig>, AiConfigError> {
    let entries: Vec<Entry> =
        serde_json::from_str(text).map_err(|e| AiConfigError::Json(e.to_string()))?;
    entries.into_iter().map(from_entry).collect()
}

fn from_entry(e: Entry) -> Result<AiModelConfig, AiConfigError> {
    let pipeline: Pipeline = e
        .pipeline
        .parse()
        .map_err(|_| AiConfigError::Pipeline(e.pipeline.clone()))?;
    let price_err = |reason: String| AiConfigError::Price {
        model_id: e.model_id.clone(),
        reason,
    };
    let currency = e.currency.trim().to_string();
    if !currency.is_empty() && !currency.eq_ignore_ascii_case("wei") {
        return Err(AiConfigError::Currency(currency));
    }
    let price = match &e.price_per_unit {
        None => None,
        Some(raw) => {
            let (num, den) = decimal_fraction(raw.get()).map_err(price_err)?;
            let (pixels_num, pixels_den) = match &e.pixels_per_unit {
                None => (1, 1),
                Some(raw) => decimal_fraction(raw.get()).map_err(price_err)?,
            };
            if pixels_num == 0 {
                return Err(price_err("pixels_per_unit must be positive".into()));
            }
            // (num/den) / (pixels_num/pixels_den) = num·pixels_den / (den·pixels_num)
            let top = num
                .checked_mul(pixels_den)
                .ok_or_else(|| price_err("too large".into()))?;
            let bottom = den
                .checked_mul(pixels_num)
                .ok_or_else(|| price_err("too large".into()))?;
            let g = gcd(top, bottom).max(1);
            let (top, bottom) = (top / g, bottom / g);
            let to_i64 = |v: u128| i64::try_from(v).map_err(|_| price_err("too large".into()));
            Some(PriceInfo::new(to_i64(top)?, to_i64(bottom)?))
        }
    };
    Ok(AiModelConfig {
        pipeline,
        model_id: e.model_id,
        url: Some(e.url).filter(|u| !u.is_empty()),
        token: Some(e.token).filter(|t| !t.is_empty()),
        warm: e.warm,
        capacity: u32::try_from(e.capacity)
            .ok()
            .filter(|c| *c > 0)
            .unwrap_or(1),
        optimization_flags: e.optimization_flags,
        price,
        currency,
        gateway: if e.gateway.is_empty() {
            DEFAULT_GATEWAY.to_string()
        } else {
            e.gateway
        },
    })
}

/// Parses `pipeline:model_id:warm[,…]` (go-livepeer: at least three `:` parts; `warm` as Go's
/// `strconv.ParseBool`).
pub fn parse_inline(arg: &str) -> Result<Vec<AiModelConfig>, AiConfigError> {
    arg.split(',')
        .map(|m| {
            let parts: Vec<&str> = m.split(':').collect();
            if parts.len() < 3 {
                return Err(AiConfigError::Inline);
            }
            let pipeline: Pipeline = parts[0]
                .parse()
                .map_err(|_| AiConfigError::Pipeline(parts[0].to_string()))?;
            let warm = match parts[2] {
                "1" | "t" | "T" | "TRUE" | "true" | "True" => true,
                "0" | "f" | "F" | "FALSE" | "false" | "False" => false,
                other => return Err(AiConfigError::Warm(other.to_string())),
            };
            Ok(AiModelConfig {
                pipeline,
                model_id: parts[1].to_string(),
                url: None,
                token: None,
                warm,
                capacity: 1,
                optimization_flags: Default::default(),
                price: None,
                currency: String::new(),
                gateway: DEFAULT_GATEWAY.to_string(),
            })
        })
        .collect()
}

/// A JSON number's literal (`12`, `0.25`, `1e3`, `2.5E-2`) as an exact non-negative fraction
/// `(num, den)`, as Go's `big.Rat.SetString` reads it.
fn decimal_fraction(literal: &str) -> Result<(u128, u128), String> {
    let bad = || format!("{literal} is not a non-negative number");
    let s = literal.trim();
    if s.starts_with('-') {
        return Err(format!("{literal} is negative"));
    }
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i32>().map_err(|_| bad())?),
        None => (s, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let digits: String = format!("{int}{frac}");
    let mut num: u128 = digits
        .parse()
        .map_err(|_| format!("{literal} is too large"))?;
    let scale = exp - i32::try_from(frac.len()).map_err(|_| bad())?;
    let pow = |n: u32| {
        10u128
            .checked_pow(n)
            .ok_or_else(|| format!("{literal} is too large"))
    };
    let mut den = 1u128;
    if scale >= 0 {
        num = num
            .checked_mul(pow(scale.unsigned_abs())?)
            .ok_or_else(|| format!("{literal} is too large"))?;
    } else {
        den = pow(scale.unsigned_abs())?;
    }
    let g = gcd(num, den).max(1);
    Ok((num / g, den / g))
}

/// `num / den` reduced and carried as a wire price; `None` when a side overflows `i64` or
/// `den` is 0.
pub fn reduced_price(num: u128, den: u128) -> Option<PriceInfo> {
    if den == 0 {
        return None;
    }
    let g = gcd(num, den).max(1);
    Some(PriceInfo::new(
        i64::try_from(num / g).ok()?,
        i64::try_from(den / g).ok()?,
    ))
}

fn gcd(mut a: u128, mut b: u128) -> u128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_form_as_go() {
        let c = parse_ai_models(
            "llm:HuggingFaceTB/SmolLM2-135M-Instruct:true,text-to-speech:espeak-ng/espeak-ng:false",
        )
        .expect("parses");
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].pipeline, c[0].warm, c[0].capacity),
            (Pipeline::Llm, true, 1)
        );
        assert_eq!(c[1].model_id, "espeak-ng/espeak-ng");
        assert_eq!(c[1].gateway, DEFAULT_GATEWAY);
        assert_eq!(parse_ai_models("llm:x"), Err(AiConfigError::Inline));
        assert_eq!(
            parse_ai_models("llm:x:maybe"),
            Err(AiConfigError::Warm("maybe".into()))
        );
        assert_eq!(
            parse_ai_models("text-to-music:x:true"),
            Err(AiConfigError::Pipeline("text-to-music".into()))
        );
        assert!(matches!(
            parse_ai_models("llm:x:true,llm:x:false"),
            Err(AiConfigError::WarmAndCold { .. })
        ));
    }

    #[test]
    fn json_form_with_prices() {
        let c = parse_json(
            r#"[
              {"pipeline":"text-to-image","model_id":"ByteDance/SDXL-Lightning","price_per_unit":4768371,"warm":true,"optimization_flags":{"SFAST":true}},
              {"pipeline":"llm","model_id":"m","url":"http://127.0.0.1:8000","token":"t","capacity":4,"price_per_unit":0.5,"pixels_per_unit":1000,"gateway":"0xabc"},
              {"pipeline":"audio-to-text","model_id":"a","price_per_unit":1.5e2}
            ]"#,
        )
        .expect("parses");
        assert_eq!(c[0].price, Some(PriceInfo::new(4768371, 1)));
        assert!(c[0].warm);
        assert_eq!(c[0].optimization_flags["SFAST"], true);
        assert_eq!(c[1].url.as_deref(), Some("http://127.0.0.1:8000"));
        assert_eq!(c[1].token.as_deref(), Some("t"));
        assert_eq!(c[1].capacity, 4);
        assert_eq!(c[1].price, Some(PriceInfo::new(1, 2000)));
        assert_eq!(c[1].gateway, "0xabc");
        assert_eq!(c[2].price, Some(PriceInfo::new(150, 1)));
        assert_eq!(c[2].capacity, 1);
    }

    #[test]
    fn bad_prices_and_currencies_are_refused() {
        for bad in [
            r#"[{"pipeline":"llm","model_id":"m","price_per_unit":-1}]"#,
            r#"[{"pipeline":"llm","model_id":"m","price_per_unit":1,"pixels_per_unit":0}]"#,
            r#"[{"pipeline":"llm","model_id":"m","price_per_unit":1e40}]"#,
            r#"[{"pipeline":"llm","model_id":"m","price_per_unit":1,"currency":"USD"}]"#,
            r#"{"pipeline":"llm"}"#,
        ] {
            assert!(parse_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn decimal_literals_are_exact() {
        assert_eq!(decimal_fraction("12"), Ok((12, 1)));
        assert_eq!(decimal_fraction("0.25"), Ok((1, 4)));
        assert_eq!(decimal_fraction("2.5E-2"), Ok((1, 40)));
        assert_eq!(decimal_fraction("1e3"), Ok((1000, 1)));
        assert!(decimal_fraction("1.2.3").is_err());
        assert!(decimal_fraction(".").is_err());
    }
}
