//! One AI request, parsed from its JSON or multipart body and checked against its pipeline's
//! schema ([`Pipeline::fields`]), as the runner's FastAPI/pydantic layer checks it.
//!
//! Validation failures are reported as FastAPI reports them: status 422 with
//! `{"detail":[{"type","loc","msg","input"}]}` (pydantic v2 error types and messages, lax
//! mode: form text and numeric strings are coerced to integers, numbers and booleans). Fields
//! the schema doesn't name are ignored, as pydantic ignores them.

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::pipeline::{BodyKind, FieldSpec, FieldType, Pipeline};

/// The most bytes of one non-file multipart field (a prompt, a JSON-encoded parameter).
pub const MAX_TEXT_FIELD_BYTES: usize = 1024 * 1024;
/// The most multipart fields one request may carry.
pub const MAX_MULTIPART_FIELDS: usize = 64;

/// An uploaded file of a multipart request.
#[derive(Debug, Clone, PartialEq)]
pub struct Upload {
    /// The part's file name (only echoed back; never used as a path).
    pub filename: String,
    /// The part's `Content-Type`, if it had one.
    pub content_type: Option<String>,
    /// Its bytes.
    pub data: Bytes,
}

/// One AI request: the fields it gave, coerced to their schema types, and its input file.
#[derive(Debug, Clone, PartialEq)]
pub struct AiRequest {
    /// The pipeline it is for.
    pub pipeline: Pipeline,
    /// The schema fields the request gave (JSON values of the schema's types; no defaults).
    pub params: Map<String, Value>,
    /// The input file, for multipart pipelines.
    pub file: Option<Upload>,
}

/// One validation failure, in pydantic v2's shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValidationIssue {
    /// pydantic's error type (`missing`, `int_parsing`, `string_type`, ...).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Where: `["body", <field>, ...]`.
    pub loc: Vec<Value>,
    /// pydantic's message.
    pub msg: &'static str,
    /// The offending input (`null` for a missing field).
    pub input: Value,
}

/// Why a request body could not be taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// The body does not match the schema: 422 with the issues as `detail`.
    #[error("request validation failed ({} issues)", .0.len())]
    Validation(Vec<ValidationIssue>),
    /// A part or the body is over its limit: 413.
    #[error("{0}")]
    TooLarge(String),
}

impl RequestError {
    /// The HTTP status a runner answers with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Validation(_) => 422,
            RequestError::TooLarge(_) => 413,
        }
    }

    /// The JSON body a runner answers with (FastAPI's validation shape, or `HTTPError`).
    pub fn body(&self) -> Value {
        match self {
            RequestError::Validation(issues) => serde_json::json!({ "detail": issues }),
            RequestError::TooLarge(msg) => serde_json::json!({ "detail": { "msg": msg } }),
        }
    }

    fn single(kind: &'static str, loc: Vec<Value>, msg: &'static str, input: Value) -> Self {
        RequestError::Validation(vec![ValidationIssue {
            kind,
            loc,
            msg,
            input,
        }])
    }
}

fn loc(field: &str) -> Vec<Value> {
    vec![Value::from("body"), Value::from(field)]
}

impl AiRequest {
    /// Parses a JSON body for a [`BodyKind::Json`] pipeline.
    ///
    /// Errors: [`RequestError::Validation`] for malformed JSON (`json_invalid`), a body that is
    /// not an object (`model_attributes_type`), missing required fields and values of the
    /// wrong type.
    pub fn from_json(pipeline: Pipeline, body: &[u8]) -> Result<Self, RequestError> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            RequestError::single(
                "json_invalid",
                vec![Value::from("body"), Value::from(e.column())],
                "JSON decode error",
                Value::Object(Map::new()),
            )
        })?;
        Self::from_value(pipeline, value)
    }

    /// Checks an already parsed JSON object (a remote AI worker's `request`), as
    /// [`AiRequest::from_json`].
    pub fn from_value(pipeline: Pipeline, value: Value) -> Result<Self, RequestError> {
        let Value::Object(object) = value else {
            return Err(RequestError::single(
                "model_attributes_type",
                vec![Value::from("body")],
                "Input should be a valid dictionary or object to extract fields from",
                value,
            ));
        };
        let mut issues = Vec::new();
        let mut params = Map::new();
        for spec in pipeline.fields() {
            if spec.ty == FieldType::File {
                continue;
            }
            match object.get(spec.name) {
                None | Some(Value::Null) if spec.required => issues.push(missing(spec.name)),
                None | Some(Value::Null) => {}
                Some(v) => match coerce(spec, v) {
                    Ok(v) => {
                        params.insert(spec.name.to_string(), v);
                    }
                    Err(mut found) => issues.append(&mut found),
                },
            }
        }
        if !issues.is_empty() {
            return Err(RequestError::Validation(issues));
        }
        Ok(Self {
            pipeline,
            params,
            file: None,
        })
    }

    /// Parses a `multipart/form-data` body for a [`BodyKind::Multipart`] pipeline; `boundary`
    /// is the `Content-Type`'s boundary. The file part may be at most `max_file_bytes`
    /// ([`RequestError::TooLarge`] otherwise); text parts at most [`MAX_TEXT_FIELD_BYTES`].
    pub async fn from_multipart(
        pipeline: Pipeline,
        boundary: &str,
        body: Bytes,
        max_file_bytes: usize,
    ) -> Result<Self, RequestError> {
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut form = multer::Multipart::new(stream, boundary.to_string());
        let mut texts: Map<String, Value> = Map::new();
        let mut file = None;
        let file_field = pipeline.file_field();
        let mut count = 0usize;
        loop {
            let field = match form.next_field().await {
                Ok(Some(field)) => field,
                Ok(None) => break,
                Err(e) => return Err(malformed_form(e)),
            };
            count += 1;
            if count > MAX_MULTIPART_FIELDS {
                return Err(RequestError::TooLarge("Too many form fields.".into()));
            }
            let name = field.name().unwrap_or_default().to_string();
            if Some(name.as_str()) == file_field {
                let filename = field.file_name().unwrap_or_default().to_string();
                let content_type = field.content_type().map(|m| m.to_string());
                let data = read_field(field, max_file_bytes, "File size exceeds limit.").await?;
                file = Some(Upload {
                    filename,
                    content_type,
                    data,
                });
            } else if pipeline.fields().iter().any(|f| f.name == name) {
                let data = read_field(field, MAX_TEXT_FIELD_BYTES, "Form field too large.").await?;
                let text = String::from_utf8_lossy(&data).into_owned();
                texts.insert(name, Value::String(text));
            }
        }
        let mut issues = Vec::new();
        if let Some(name) = file_field
            && file.is_none()
        {
            issues.push(missing(name));
        }
        let mut request = match Self::from_form_texts(pipeline, texts) {
            Ok(request) => request,
            Err(RequestError::Validation(mut more)) => {
                issues.append(&mut more);
                return Err(RequestError::Validation(issues));
            }
            Err(e) => return Err(e),
        };
        if !issues.is_empty() {
            return Err(RequestError::Validation(issues));
        }
        request.file = file;
        Ok(request)
    }

    fn from_form_texts(
        pipeline: Pipeline,
        texts: Map<String, Value>,
    ) -> Result<Self, RequestError> {
        Self::from_value(pipeline, Value::Object(texts))
    }

    /// The model the request names (`model` for `llm`, else `model_id`); empty when absent.
    pub fn model_id(&self) -> &str {
        self.str(self.pipeline.model_field())
    }

    /// A string field: the value given, else the schema's default, else `""`.
    pub fn str(&self, name: &str) -> &str {
        match self.params.get(name) {
            Some(Value::String(s)) => s,
            _ => self
                .spec(name)
                .and_then(|f| f.default)
                .and_then(default_str)
                .unwrap_or(""),
        }
    }

    /// An integer field: the value given, else the schema's default.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.value(name).and_then(|v| v.as_i64())
    }

    /// A number field: the value given, else the schema's default.
    pub fn num(&self, name: &str) -> Option<f64> {
        self.value(name).and_then(|v| v.as_f64())
    }

    /// A boolean field: the value given, else the schema's default.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.value(name).and_then(|v| v.as_bool())
    }

    /// A field's value: given, else the default; `None` if neither.
    pub fn value(&self, name: &str) -> Option<Value> {
        if let Some(v) = self.params.get(name) {
            return Some(v.clone());
        }
        self.spec(name)
            .and_then(|f| f.default)
            .and_then(|d| serde_json::from_str(d).ok())
    }

    /// Whether the request gave `name` itself (not through a default).
    pub fn has(&self, name: &str) -> bool {
        self.params.contains_key(name)
    }

    fn spec(&self, name: &str) -> Option<&'static FieldSpec> {
        self.pipeline.fields().iter().find(|f| f.name == name)
    }

    /// The JSON body for a [`BodyKind::Json`] pipeline (the fields given, nothing else).
    pub fn to_json(&self) -> Value {
        Value::Object(self.params.clone())
    }

    /// The text parts of a [`BodyKind::Multipart`] request: `(field, value)` with values as
    /// form text (strings as they are, numbers and booleans in JSON form).
    pub fn form_texts(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k.clone(), text)
            })
            .collect()
    }

    /// The request's body encoding.
    pub fn body_kind(&self) -> BodyKind {
        self.pipeline.body_kind()
    }
}

fn default_str(d: &'static str) -> Option<&'static str> {
    // Defaults of string fields are JSON string literals without escapes.
    d.strip_prefix('"').and_then(|s| s.strip_suffix('"'))
}

fn missing(name: &str) -> ValidationIssue {
    ValidationIssue {
        kind: "missing",
        loc: loc(name),
        msg: "Field required",
        input: Value::Null,
    }
}

fn malformed_form(e: multer::Error) -> RequestError {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => {
            RequestError::TooLarge("File size exceeds limit.".into())
        }
        _ => RequestError::single(
            "value_error",
            vec![Value::from("body")],
            "There was an error parsing the body",
            Value::Null,
        ),
    }
}

async fn read_field(
    mut field: multer::Field<'_>,
    limit: usize,
    too_large: &str,
) -> Result<Bytes, RequestError> {
    let mut buf = bytes::BytesMut::new();
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                if buf.len() + chunk.len() > limit {
                    return Err(RequestError::TooLarge(too_large.to_string()));
                }
                buf.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(buf.freeze()),
            Err(e) => return Err(malformed_form(e)),
        }
    }
}

/// Coerces one given value to its field's type, pydantic v2 lax mode.
fn coerce(spec: &FieldSpec, v: &Value) -> Result<Value, Vec<ValidationIssue>> {
    let issue = |kind: &'static str, msg: &'static str| {
        vec![ValidationIssue {
            kind,
            loc: loc(spec.name),
            msg,
            input: v.clone(),
        }]
    };
    match spec.ty {
        FieldType::Str | FieldType::File => match v {
            Value::String(_) => Ok(v.clone()),
            _ => Err(issue("string_type", "Input should be a valid string")),
        },
        FieldType::Int => match v {
            Value::Number(n) if n.is_i64() => Ok(v.clone()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Value::from(f as i64)),
                _ => Err(issue(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                )),
            },
            Value::String(s) => s.trim().parse::<i64>().map(Value::from).map_err(|_| {
                issue(
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                )
            }),
            _ => Err(issue("int_type", "Input should be a valid integer")),
        },
        FieldType::Num => match v {
            Value::Number(_) => Ok(v.clone()),
            Value::String(s) => s
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| {
                    issue(
                        "float_parsing",
                        "Input should be a valid number, unable to parse string as a number",
                    )
                }),
            _ => Err(issue("float_type", "Input should be a valid number")),
        },
        FieldType::Bool => match v {
            Value::Bool(_) => Ok(v.clone()),
            Value::Number(n) if n.as_i64() == Some(0) => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_i64() == Some(1) => Ok(Value::Bool(true)),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Value::Bool(true)),
                "false" | "0" | "no" | "off" | "f" | "n" => Ok(Value::Bool(false)),
                _ => Err(issue(
                    "bool_parsing",
                    "Input should be a valid boolean, unable to interpret input",
                )),
            },
            _ => Err(issue("bool_type", "Input should be a valid boolean")),
        },
        FieldType::Object => match v {
            Value::Object(_) => Ok(v.clone()),
            _ => Err(issue("dict_type", "Input should be a valid dictionary")),
        },
        FieldType::Messages => coerce_messages(spec, v),
    }
}

fn coerce_messages(spec: &FieldSpec, v: &Value) -> Result<Value, Vec<ValidationIssue>> {
    let Value::Array(items) = v else {
        return Err(vec![ValidationIssue {
            kind: "list_type",
            loc: loc(spec.name),
            msg: "Input should be a valid list",
            input: v.clone(),
        }]);
    };
    let mut issues = Vec::new();
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = |key: Option<&str>| {
            let mut l = loc(spec.name);
            l.push(Value::from(i));
            if let Some(key) = key {
                l.push(Value::from(key));
            }
            l
        };
        let Value::Object(object) = item else {
            issues.push(ValidationIssue {
                kind: "model_type",
                loc: at(None),
                msg: "Input should be a valid dictionary or instance of LLMMessage",
                input: item.clone(),
            });
            continue;
        };
        let mut message = Map::new();
        for key in ["role", "content"] {
            match object.get(key) {
                None => issues.push(ValidationIssue {
                    kind: "missing",
                    loc: at(Some(key)),
                    msg: "Field required",
                    input: item.clone(),
                }),
                Some(Value::String(s)) => {
                    message.insert(key.to_string(), Value::String(s.clone()));
                }
                Some(other) => issues.push(ValidationIssue {
                    kind: "string_type",
                    loc: at(Some(key)),
                    msg: "Input should be a valid string",
                    input: other.clone(),
                }),
            }
        }
        out.push(Value::Object(message));
    }
    if issues.is_empty() {
        Ok(Value::Array(out))
    } else {
        Err(issues)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn issues(r: Result<AiRequest, RequestError>) -> Vec<ValidationIssue> {
        match r {
            Err(RequestError::Validation(v)) => v,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn json_fields_are_coerced_and_defaults_apply() {
        let r = AiRequest::from_json(
            Pipeline::Llm,
            br#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":"12","stream":"true","extra":1}"#,
        )
        .expect("valid");
        assert_eq!(r.int("max_tokens"), Some(12));
        assert_eq!(r.bool("stream"), Some(true));
        assert_eq!(r.num("temperature"), Some(0.7));
        assert_eq!(r.int("top_k"), Some(-1));
        assert_eq!(r.model_id(), "");
        assert!(!r.params.contains_key("extra"));
        assert!(!r.has("temperature"));
    }

    #[test]
    fn validation_errors_have_fastapi_shape() {
        let v = issues(AiRequest::from_json(
            Pipeline::Llm,
            br#"{"max_tokens":"many"}"#,
        ));
        let kinds: Vec<_> = v.iter().map(|i| (i.kind, i.loc.clone())).collect();
        assert_eq!(
            kinds,
            vec![
                ("missing", vec![json!("body"), json!("messages")]),
                ("int_parsing", vec![json!("body"), json!("max_tokens")]),
            ]
        );
        let body = RequestError::Validation(v).body();
        assert_eq!(body["detail"][0]["msg"], "Field required");
        assert_eq!(body["detail"][1]["input"], "many");

        let v = issues(AiRequest::from_json(
            Pipeline::Llm,
            br#"{"messages":[{"role":"user"},{"role":1,"content":"x"}]}"#,
        ));
        assert_eq!(
            v[0].loc,
            vec![json!("body"), json!("messages"), json!(0), json!("content")]
        );
        assert_eq!(v[1].kind, "string_type");

        let v = issues(AiRequest::from_json(Pipeline::TextToSpeech, b"{not json"));
        assert_eq!(v[0].kind, "json_invalid");
        let v = issues(AiRequest::from_json(Pipeline::TextToSpeech, b"[1]"));
        assert_eq!(v[0].kind, "model_attributes_type");
        let v = issues(AiRequest::from_json(
            Pipeline::TextToSpeech,
            br#"{"text":5}"#,
        ));
        assert_eq!(v[0].kind, "string_type");
    }

    fn form(parts: &[(&str, Option<&str>, &[u8])]) -> Bytes {
        let mut b = Vec::new();
        for (name, filename, data) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            match filename {
                Some(f) => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
                ),
                None => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            b.extend_from_slice(data);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        Bytes::from(b)
    }

    #[tokio::test]
    async fn multipart_takes_the_file_and_coerces_text() {
        let body = form(&[
            ("audio", Some("a.wav"), b"RIFF...."),
            ("return_timestamps", None, b"word"),
            ("model_id", None, b"openai/whisper-tiny.en"),
        ]);
        let r = AiRequest::from_multipart(Pipeline::AudioToText, "XyZ", body, 1024)
            .await
            .expect("valid");
        assert_eq!(r.str("return_timestamps"), "word");
        assert_eq!(r.str("metadata"), "{}");
        assert_eq!(r.model_id(), "openai/whisper-tiny.en");
        let file = r.file.expect("file");
        assert_eq!(file.filename, "a.wav");
        assert_eq!(&file.data[..], b"RIFF....");

        let body = form(&[
            ("prompt", None, b"x"),
            ("num_images_per_prompt", None, b"two"),
        ]);
        let v = issues(AiRequest::from_multipart(Pipeline::ImageToImage, "XyZ", body, 1024).await);
        assert_eq!(
            v.iter().map(|i| i.kind).collect::<Vec<_>>(),
            ["missing", "int_parsing"]
        );
        assert_eq!(v[0].loc, vec![json!("body"), json!("image")]);
    }

    #[tokio::test]
    async fn oversize_files_are_refused() {
        let body = form(&[("image", Some("big.png"), &[0u8; 2048])]);
        let e = AiRequest::from_multipart(Pipeline::ImageToText, "XyZ", body, 1024)
            .await
            .expect_err("too large");
        assert_eq!(e.status(), 413);
        assert_eq!(
            e.body(),
            json!({"detail": {"msg": "File size exceeds limit."}})
        );
    }
}
