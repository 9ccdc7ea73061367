//! The built-in image-to-text engine: PP-OCRv4 text detection and recognition (`reference/ai.md`
//! §8.2, the ONNX files of PyPI `rapidocr-onnxruntime` 1.4.4) run on tract, pure Rust, CPU only.
//!
//! The pipeline of one [`OcrEngine::recognize`] call:
//!
//! 1. **Decode** the encoded image (PNG, JPEG, WebP or BMP, sniffed from the bytes) with the `image`
//!    crate, after checking its declared dimensions against [`MAX_IMAGE_PIXELS`] and
//!    [`MAX_IMAGE_SIDE`]. Transparent pixels are composited over white.
//! 2. **Detect** (DBNet, `ch_PP-OCRv4_det_infer.onnx`): the image is resized so that its longer
//!    side is at most [`DET_MAX_SIDE`] and both sides are multiples of 32, normalised
//!    (`(x / 255 - 0.5) / 0.5`, BGR order as PaddleOCR trains on OpenCV images) and run; the
//!    1×1×H×W probability map is thresholded at [`DB_THRESH`], dilated by a 2×2 square, split into
//!    8-connected components, and each component's bounding box is kept when its mean probability
//!    is at least [`DB_BOX_THRESH`], then expanded ("unclipped") by `area × DB_UNCLIP_RATIO /
//!    perimeter` on every side. Thresholds are rapidocr's `config.yaml` (`Det.thresh`,
//!    `box_thresh`, `unclip_ratio`).
//! 3. **Recognise** (SVTR-LCNet with a CTC head, `ch_PP-OCRv4_rec_infer.onnx`): each box is cropped
//!    from the *original* image, resized to height [`REC_HEIGHT`] keeping its aspect ratio, padded
//!    with zeros (mid grey after normalisation) to one of [`REC_WIDTHS`], and run one crop at a
//!    time; the N×T×C class probabilities are decoded greedily (best class per step, repeats merged,
//!    blanks dropped). Lines whose mean character probability is under [`MIN_LINE_SCORE`] are
//!    dropped (rapidocr's `Global.text_score`).
//!
//! Boxes are axis-aligned: horizontal text is read; rotated, vertical or upside-down text is not
//! (the optional 180° classifier of the package is not used).
//!
//! Both models are parsed once. tract cannot type them with symbolic input sides (DBNet's FPN and
//! the recogniser's reshapes need concrete sizes), so each input shape gets its own optimised plan,
//! built on first use and cached (detection: up to 16 sizes, least recently used dropped;
//! recognition: the few [`REC_WIDTHS`]). tract's plans are immutable and each call runs in its own
//! state, so one [`OcrEngine`] serves concurrent calls.

use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};

use image::imageops::FilterType;
use image::{DynamicImage, GenericImageView, ImageDecoder, ImageReader, Limits, RgbImage};
use tract_onnx::prelude::*;

use crate::InferenceError;

/// Detection model file inside the OCR package directory ([`crate::ModelsDir::ocr`]).
pub const DET_MODEL_FILE: &str = "ch_PP-OCRv4_det_infer.onnx";
/// Recognition model file inside the OCR package directory.
pub const REC_MODEL_FILE: &str = "ch_PP-OCRv4_rec_infer.onnx";
/// The ONNX `metadata_props` key of the recognition model that holds its character dictionary,
/// one character per line (rapidocr `OrtInferSession.get_character_list`).
pub const REC_CHARACTER_KEY: &str = "character";

/// Largest accepted image, in pixels (width × height): 25 Mpx, a 6000×4000 camera photo. Checked
/// on the declared dimensions before any pixel is decoded (decompression bombs).
pub const MAX_IMAGE_PIXELS: u64 = 25_000_000;
/// Largest accepted image side, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most bytes the image decoder may allocate (the decoded image and its working buffers).
pub const MAX_DECODE_ALLOC_BYTES: u64 = 256 * 1024 * 1024;

/// Longest side of the detector's input, in pixels (PaddleOCR's `det_limit_side_len` default with
/// `limit_type = max`); larger images are scaled down for detection only.
pub const DET_MAX_SIDE: u32 = 960;
/// Probability above which a pixel of the detection map is text (rapidocr `Det.thresh`).
pub const DB_THRESH: f32 = 0.3;
/// Smallest mean probability of a kept text box (rapidocr `Det.box_thresh`).
pub const DB_BOX_THRESH: f32 = 0.5;
/// How far a text box is expanded: `area × ratio / perimeter` per side (rapidocr
/// `Det.unclip_ratio`).
pub const DB_UNCLIP_RATIO: f32 = 1.6;
/// Most text boxes taken from one image (rapidocr `Det.max_candidates`); bounds recognition cost.
pub const DB_MAX_CANDIDATES: usize = 1000;
/// Boxes whose shorter side, in detector pixels, is under this are noise (PaddleOCR
/// `DBPostProcess.min_size`).
const DB_MIN_SIZE: f32 = 3.0;

/// Height of the recogniser's input, in pixels (rapidocr `Rec.rec_img_shape`).
pub const REC_HEIGHT: u32 = 48;
/// The recogniser's input widths, in pixels: a resized crop is padded on the right to the first
/// that holds it. The narrowest is rapidocr's `Rec.rec_img_shape` width; the widest (40 × the
/// height) bounds the cost of one line, and longer lines are squeezed to it. A few fixed widths
/// keep the number of tract plans (one per input shape) small.
pub const REC_WIDTHS: [u32; 6] = [320, 480, 640, 960, 1280, 1920];
/// Widest recogniser input, in pixels.
pub const REC_MAX_WIDTH: u32 = REC_WIDTHS[REC_WIDTHS.len() - 1];
/// Lines whose mean character probability is under this are dropped (rapidocr
/// `Global.text_score`).
pub const MIN_LINE_SCORE: f32 = 0.5;

/// One recognised line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    /// The text, as the recogniser's dictionary spells it (PP-OCRv4 reads Chinese and English).
    pub text: String,
    /// Mean probability of the line's characters, in `[0, 1]`.
    pub score: f32,
    /// Axis-aligned box in input image pixels, `[x0, y0, x1, y1]` (x1, y1 exclusive).
    pub bbox: [u32; 4],
}

/// A runnable tract plan.
type Plan = Arc<TypedRunnableModel>;

/// The loaded PP-OCRv4 models. `Send + Sync`: share one behind an [`Arc`]; concurrent
/// [`recognize`](Self::recognize) calls are allowed (each runs its own tract state).
pub struct OcrEngine {
    /// Detection plans per input size: tract cannot analyse DBNet with symbolic sides (its FPN
    /// concatenates maps whose symbolic sizes it cannot unify), so each size gets its own plan.
    det: PlanCache,
    /// Recognition plans per input width (one of [`REC_WIDTHS`]); the SVTR neck's reshapes need a
    /// concrete width too.
    rec: PlanCache,
    /// CTC classes: `[blank, dictionary..., " "]` (PaddleOCR `CTCLabelDecode`: blank is class 0 and
    /// a space is appended as the last class).
    classes: Vec<String>,
}

impl std::fmt::Debug for OcrEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcrEngine")
            .field("classes", &self.classes.len())
            .finish_non_exhaustive()
    }
}

impl OcrEngine {
    /// The model id this engine answers to: the Hugging Face repository of the upstream
    /// recognition model, PaddleOCR's PP-OCRv4 mobile recogniser (`ch_PP-OCRv4_rec_infer.onnx` is
    /// RapidOCR's ONNX export of it; its detector is `PaddlePaddle/PP-OCRv4_mobile_det`). The
    /// recogniser is named because it is the model that produces the text (its model card's
    /// pipeline tag is `image-to-text`).
    pub const MODEL_ID: &'static str = "PaddlePaddle/PP-OCRv4_mobile_rec";

    /// Loads both models from `dir` (the OCR package directory, [`crate::ModelsDir::ocr`]) and
    /// builds a first plan of each (a few seconds in debug builds).
    ///
    /// Errors: [`InferenceError::Load`] when a file is missing or unreadable, the recogniser has no
    /// character dictionary, or its class count does not match the dictionary.
    pub fn load(dir: &Path) -> Result<Self, InferenceError> {
        let onnx = tract_onnx::onnx();
        let load_err = |file: &str, e: TractError| InferenceError::Load(format!("{file}: {e:#}"));

        let det_path = dir.join(DET_MODEL_FILE);
        let det = onnx
            .model_for_path(&det_path)
            .map_err(|e| load_err(DET_MODEL_FILE, e))?;
        let det = PlanCache::new(DET_MODEL_FILE, det, DET_PLAN_CACHE);
        // One plan now, so that a model tract cannot run fails here rather than on a request.
        det.plan(DET_LOAD_CHECK_SIDE, DET_LOAD_CHECK_SIDE)
            .map_err(|e| InferenceError::Load(e.to_string()))?;

        let rec_path = dir.join(REC_MODEL_FILE);
        let rec = onnx
            .model_for_path(&rec_path)
            .map_err(|e| load_err(REC_MODEL_FILE, e))?;
        let dictionary = rec
            .properties
            .get(&format!("onnx.metadata_props.{REC_CHARACTER_KEY}"))
            .and_then(|t| t.as_plain_ram()?.to_scalar::<String>().ok().cloned())
            .ok_or_else(|| {
                InferenceError::Load(format!(
                    "{REC_MODEL_FILE}: no `{REC_CHARACTER_KEY}` dictionary in its metadata"
                ))
            })?;
        let mut classes = Vec::with_capacity(dictionary.lines().count() + 2);
        classes.push(String::new());
        classes.extend(dictionary.lines().map(str::to_owned));
        classes.push(" ".to_owned());
        let rec = PlanCache::new(REC_MODEL_FILE, rec, REC_WIDTHS.len());
        // Builds the narrowest plan now: checks the model runs and its classes match.
        let plan = rec
            .plan(REC_WIDTHS[0], REC_HEIGHT)
            .map_err(|e| InferenceError::Load(e.to_string()))?;
        let out_classes = plan
            .model()
            .output_fact(0)
            .ok()
            .and_then(|f| f.shape.last().and_then(TDim::as_i64))
            .and_then(|c| usize::try_from(c).ok());
        if out_classes != Some(classes.len()) {
            return Err(InferenceError::Load(format!(
                "{REC_MODEL_FILE}: {out_classes:?} output classes for a dictionary of {} \
                 (+ blank and space)",
                classes.len() - 2
            )));
        }
        Ok(Self { det, rec, classes })
    }

    /// Reads the text of an encoded image. Blocking and CPU-bound (run it on a blocking thread).
    ///
    /// `image`: PNG, JPEG, WebP or BMP bytes; the format is sniffed from the content. Returns the
    /// lines in reading order: top to bottom, then left to right within a row of boxes; an image
    /// without text gives no lines.
    ///
    /// Errors: [`InferenceError::TooLarge`] when the declared dimensions exceed
    /// [`MAX_IMAGE_PIXELS`] or [`MAX_IMAGE_SIDE`] (checked before decoding);
    /// [`InferenceError::BadInput`] when the bytes are not a decodable image of those formats;
    /// [`InferenceError::Inference`] when a model fails to run.
    pub fn recognize(&self, image: &[u8]) -> Result<Vec<TextLine>, InferenceError> {
        let rgb = decode_image(image)?;
        let boxes = self.detect(&rgb)?;
        let mut lines = Vec::with_capacity(boxes.len());
        for bbox in boxes {
            let [x0, y0, x1, y1] = bbox;
            let crop = rgb.crop_imm(x0, y0, x1 - x0, y1 - y0);
            if let Some((text, score)) = self.read_line(&crop)?
                && score >= MIN_LINE_SCORE
                && !text.trim().is_empty()
            {
                lines.push(TextLine { text, score, bbox });
            }
        }
        Ok(lines)
    }

    /// The text of an encoded image: the [`recognize`](Self::recognize) lines joined with `'\n'`
    /// (the `text` of ai-runner's `ImageToTextResponse`, `reference/ai.md` §1.4). Same errors.
    pub fn read_text(&self, image: &[u8]) -> Result<String, InferenceError> {
        let lines = self.recognize(image)?;
        Ok(lines
            .iter()
            .map(|l| l.text.as_str())
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Text boxes of `rgb`, in its pixels, in reading order.
    fn detect(&self, rgb: &DynamicImage) -> Result<Vec<[u32; 4]>, InferenceError> {
        let (width, height) = rgb.dimensions();
        let (det_w, det_h) = det_input_size(width, height);
        let resized = rgb
            .resize_exact(det_w, det_h, FilterType::Triangle)
            .into_rgb8();
        let input = bgr_tensor(&resized, det_w)?;
        let plan = self.det.plan(det_w, det_h)?;
        let outputs = plan.run(tvec!(input.into())).map_err(inference_err)?;
        let prob = outputs
            .first()
            .ok_or_else(|| InferenceError::Inference("detector gave no output".into()))?;
        let prob_view = prob.try_as_plain_ram().map_err(inference_err)?;
        let map = prob_view.as_slice::<f32>().map_err(inference_err)?;
        let (map_w, map_h) = (det_w as usize, det_h as usize);
        if map.len() != map_w * map_h {
            return Err(InferenceError::Inference(format!(
                "detector map has shape {:?}, expected 1x1x{det_h}x{det_w}",
                prob.shape()
            )));
        }
        let boxes = db_boxes(map, map_w, map_h);
        let sx = width as f32 / det_w as f32;
        let sy = height as f32 / det_h as f32;
        let mut scaled: Vec<[u32; 4]> = boxes
            .into_iter()
            .filter_map(|[x0, y0, x1, y1]| {
                let clamp = |v: f32, max: u32| v.round().clamp(0.0, max as f32) as u32;
                let b = [
                    clamp(x0 * sx, width),
                    clamp(y0 * sy, height),
                    clamp(x1 * sx, width),
                    clamp(y1 * sy, height),
                ];
                // rapidocr `filter_tag_det_res`: boxes of 3 pixels or less are dropped.
                (b[2].saturating_sub(b[0]) > 3 && b[3].saturating_sub(b[1]) > 3).then_some(b)
            })
            .collect();
        reading_order(&mut scaled);
        Ok(scaled)
    }

    /// Recognises one cropped line: `(text, mean character probability)`, or `None` when no
    /// character is read.
    fn read_line(&self, crop: &DynamicImage) -> Result<Option<(String, f32)>, InferenceError> {
        let (cw, ch) = crop.dimensions();
        if cw == 0 || ch == 0 {
            return Ok(None);
        }
        let scaled_w = (u64::from(REC_HEIGHT) * u64::from(cw)).div_ceil(u64::from(ch));
        let scaled_w = scaled_w.clamp(1, u64::from(REC_MAX_WIDTH)) as u32;
        let resized = crop
            .resize_exact(scaled_w, REC_HEIGHT, FilterType::Triangle)
            .into_rgb8();
        let input_w = REC_WIDTHS
            .iter()
            .copied()
            .find(|&w| w >= scaled_w)
            .unwrap_or(REC_MAX_WIDTH);
        let input = bgr_tensor(&resized, input_w)?;
        let plan = self.rec.plan(input_w, REC_HEIGHT)?;
        let outputs = plan.run(tvec!(input.into())).map_err(inference_err)?;
        let probs = outputs
            .first()
            .ok_or_else(|| InferenceError::Inference("recogniser gave no output".into()))?;
        let shape = probs.shape().to_vec();
        let view = probs.try_as_plain_ram().map_err(inference_err)?;
        let data = view.as_slice::<f32>().map_err(inference_err)?;
        match shape.as_slice() {
            [1, _, c] if *c == self.classes.len() => Ok(ctc_greedy(data, *c, &self.classes)),
            _ => Err(InferenceError::Inference(format!(
                "recogniser output has shape {shape:?}, expected 1xTx{}",
                self.classes.len()
            ))),
        }
    }
}

/// Most detection plans kept: one per input size, least recently used dropped first.
const DET_PLAN_CACHE: usize = 16;
/// Side of the detection plan built by [`OcrEngine::load`] to check the model.
const DET_LOAD_CHECK_SIDE: u32 = 320;

/// Runnable plans of one model, one per concrete `1×3×h×w` input, built on first use from the
/// parsed model and kept up to `capacity`.
struct PlanCache {
    file: &'static str,
    model: InferenceModel,
    capacity: usize,
    /// Most recently used last.
    plans: Mutex<Vec<((u32, u32), Plan)>>,
}

impl PlanCache {
    fn new(file: &'static str, model: InferenceModel, capacity: usize) -> Self {
        Self {
            file,
            model,
            capacity,
            plans: Mutex::new(Vec::new()),
        }
    }

    /// The plan for a `1×3×height×width` input.
    fn plan(&self, width: u32, height: u32) -> Result<Plan, InferenceError> {
        let key = (width, height);
        {
            let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(i) = plans.iter().position(|(k, _)| *k == key) {
                let entry = plans.remove(i);
                let plan = entry.1.clone();
                plans.push(entry);
                return Ok(plan);
            }
        }
        // Built outside the lock: other sizes keep running meanwhile.
        let fact = f32::fact([1, 3, height as usize, width as usize]);
        let plan = self
            .model
            .clone()
            .with_input_fact(0, fact.into())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| {
                InferenceError::Inference(format!("{} at {width}x{height}: {e:#}", self.file))
            })?;
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        if !plans.iter().any(|(k, _)| *k == key) {
            if plans.len() >= self.capacity {
                plans.remove(0);
            }
            plans.push((key, plan.clone()));
        }
        Ok(plan)
    }
}

// The engine is shared across request threads.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<OcrEngine>();
};

fn inference_err(e: TractError) -> InferenceError {
    InferenceError::Inference(format!("{e:#}"))
}

/// Decodes `bytes` into an RGB8 image after checking the declared dimensions; transparent pixels
/// become white. (Resizing and cropping go through [`DynamicImage`]'s methods, which are compiled
/// in the `image` crate at its own, optimised, level; the generic `imageops` functions would be
/// compiled here.)
fn decode_image(bytes: &[u8]) -> Result<DynamicImage, InferenceError> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| InferenceError::BadInput(format!("unreadable image: {e}")))?;
    if reader.format().is_none() {
        return Err(InferenceError::BadInput(
            "not an image (unrecognised format)".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC_BYTES);
    reader.limits(limits);
    let decoder = reader.into_decoder().map_err(image_err)?;
    let (w, h) = decoder.dimensions();
    check_dimensions(w, h)?;
    let image = DynamicImage::from_decoder(decoder).map_err(image_err)?;
    Ok(DynamicImage::ImageRgb8(if image.color().has_alpha() {
        over_white(&image)
    } else {
        image.into_rgb8()
    }))
}

/// [`InferenceError::TooLarge`] for images over [`MAX_IMAGE_PIXELS`] or [`MAX_IMAGE_SIDE`],
/// [`InferenceError::BadInput`] for empty ones.
fn check_dimensions(w: u32, h: u32) -> Result<(), InferenceError> {
    if w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE || u64::from(w) * u64::from(h) > MAX_IMAGE_PIXELS {
        return Err(InferenceError::TooLarge(format!(
            "image is {w}x{h} pixels; at most {MAX_IMAGE_PIXELS} pixels and {MAX_IMAGE_SIDE} per side"
        )));
    }
    if w == 0 || h == 0 {
        return Err(InferenceError::BadInput(format!("image is {w}x{h} pixels")));
    }
    Ok(())
}

fn image_err(e: image::ImageError) -> InferenceError {
    match e {
        image::ImageError::Limits(e) => InferenceError::TooLarge(format!("image too large: {e}")),
        e => InferenceError::BadInput(format!("undecodable image: {e}")),
    }
}

/// Composites an image with alpha over a white background.
fn over_white(image: &DynamicImage) -> RgbImage {
    let rgba = image.to_rgba8();
    let mut rgb = RgbImage::new(rgba.width(), rgba.height());
    for (dst, src) in rgb.pixels_mut().zip(rgba.pixels()) {
        let a = u32::from(src[3]);
        for c in 0..3 {
            dst[c] = ((u32::from(src[c]) * a + 255 * (255 - a) + 127) / 255) as u8;
        }
    }
    rgb
}

/// The detector's input size for a `width`×`height` image: scaled down so that the longer side is
/// at most [`DET_MAX_SIDE`], each side rounded to a multiple of 32 (at least 32), as DBNet's
/// five stride-2 stages need.
fn det_input_size(width: u32, height: u32) -> (u32, u32) {
    let longer = width.max(height).max(1);
    let ratio = (DET_MAX_SIDE as f32 / longer as f32).min(1.0);
    let round32 = |v: u32| (((v as f32 * ratio) / 32.0).round() as u32).max(1) * 32;
    (round32(width), round32(height))
}

/// A 1×3×H×`width` tensor of `image` (H = its height) in BGR order, normalised to
/// `(x / 255 - 0.5) / 0.5`; columns beyond the image's own width are zero (mid grey).
fn bgr_tensor(image: &RgbImage, width: u32) -> Result<Tensor, InferenceError> {
    let (w, h) = (width as usize, image.height() as usize);
    let plane = w * h;
    let mut data = vec![0f32; 3 * plane];
    let image_w = image.width() as usize;
    let used_w = image_w.min(w);
    for (y, row) in image.as_raw().chunks_exact(3 * image_w.max(1)).enumerate() {
        for (x, p) in row.chunks_exact(3).take(used_w).enumerate() {
            let at = y * w + x;
            data[at] = f32::from(p[2]) / 127.5 - 1.0;
            data[plane + at] = f32::from(p[1]) / 127.5 - 1.0;
            data[2 * plane + at] = f32::from(p[0]) / 127.5 - 1.0;
        }
    }
    Tensor::from_shape(&[1, 3, h, w], &data).map_err(inference_err)
}

/// DB post-processing of a `width`×`height` probability map: boxes `[x0, y0, x1, y1]` in map
/// pixels (x1, y1 exclusive), unclipped, at most [`DB_MAX_CANDIDATES`].
///
/// Connected components are labelled here with a small iterative flood fill (bounded by the map
/// size) rather than with `imageproc`, whose dependency tree (nalgebra, rand, ab_glyph, ...)
/// would outweigh the thirty lines it saves; box scores use a summed-area table.
fn db_boxes(map: &[f32], width: usize, height: usize) -> Vec<[f32; 4]> {
    if width == 0 || height == 0 || map.len() != width * height {
        return Vec::new();
    }
    // Threshold, then dilate with a 2x2 square (PaddleOCR `use_dilation`, kernel [[1,1],[1,1]]).
    let text: Vec<bool> = map.iter().map(|&p| p > DB_THRESH).collect();
    let mut mask = vec![false; width * height];
    for y in 0..height {
        for x in 0..width {
            let at = |dx: usize, dy: usize| text[(y - dy) * width + (x - dx)];
            mask[y * width + x] = at(0, 0)
                || (x > 0 && at(1, 0))
                || (y > 0 && at(0, 1))
                || (x > 0 && y > 0 && at(1, 1));
        }
    }
    let sums = SummedArea::new(map, width, height);
    let mut seen = vec![false; width * height];
    let mut stack = Vec::new();
    let mut boxes = Vec::new();
    let mut candidates = 0;
    for start in 0..width * height {
        if !mask[start] || seen[start] {
            continue;
        }
        if candidates == DB_MAX_CANDIDATES {
            break;
        }
        candidates += 1;
        // 8-connected flood fill from `start`; tracks the component's bounding box.
        let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % width, i / width);
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
            for ny in y.saturating_sub(1)..=(y + 1).min(height - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(width - 1) {
                    let j = ny * width + nx;
                    if mask[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let (bw, bh) = ((x1 - x0 + 1) as f32, (y1 - y0 + 1) as f32);
        if bw.min(bh) < DB_MIN_SIZE {
            continue;
        }
        // PaddleOCR "fast" score: the mean probability inside the box.
        if sums.mean(x0, y0, x1 + 1, y1 + 1) < DB_BOX_THRESH {
            continue;
        }
        let [ux0, uy0, ux1, uy1] = unclip([x0 as f32, y0 as f32, (x1 + 1) as f32, (y1 + 1) as f32]);
        if (ux1 - ux0).min(uy1 - uy0) < DB_MIN_SIZE + 2.0 {
            continue;
        }
        boxes.push([
            ux0.max(0.0),
            uy0.max(0.0),
            ux1.min(width as f32),
            uy1.min(height as f32),
        ]);
    }
    boxes
}

/// Expands a box by `area × DB_UNCLIP_RATIO / perimeter` on every side: DB's shrunk text kernels
/// grown back to the text's extent (PaddleOCR `DBPostProcess.unclip`; for an axis-aligned
/// rectangle the polygon offset's bounding box is the rectangle grown by the distance).
fn unclip([x0, y0, x1, y1]: [f32; 4]) -> [f32; 4] {
    let (w, h) = (x1 - x0, y1 - y0);
    let perimeter = 2.0 * (w + h);
    if perimeter <= 0.0 {
        return [x0, y0, x1, y1];
    }
    let d = w * h * DB_UNCLIP_RATIO / perimeter;
    [x0 - d, y0 - d, x1 + d, y1 + d]
}

/// A summed-area table of a probability map, for O(1) box means.
struct SummedArea {
    width: usize,
    sums: Vec<f64>,
}

impl SummedArea {
    fn new(map: &[f32], width: usize, height: usize) -> Self {
        let stride = width + 1;
        let mut sums = vec![0f64; stride * (height + 1)];
        for y in 0..height {
            let mut row = 0f64;
            for x in 0..width {
                row += f64::from(map[y * width + x]);
                sums[(y + 1) * stride + x + 1] = sums[y * stride + x + 1] + row;
            }
        }
        Self { width, sums }
    }

    /// Mean over `[x0, x1) × [y0, y1)`.
    fn mean(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f32 {
        let stride = self.width + 1;
        let at = |x: usize, y: usize| self.sums[y * stride + x];
        let area = ((x1 - x0) * (y1 - y0)).max(1) as f64;
        ((at(x1, y1) - at(x0, y1) - at(x1, y0) + at(x0, y0)) / area) as f32
    }
}

/// Sorts boxes into reading order: rows top to bottom, boxes left to right within a row. A box
/// is in the current row when its top is within half the row's first box height of that box's
/// top (PaddleOCR `sorted_boxes` uses a fixed 10 px; half a line height scales with the text).
fn reading_order(boxes: &mut [[u32; 4]]) {
    boxes.sort_by_key(|b| (b[1], b[0]));
    let mut row_start = 0;
    while row_start < boxes.len() {
        let first = boxes[row_start];
        let tolerance = first[3].saturating_sub(first[1]) / 2;
        let mut row_end = row_start + 1;
        while row_end < boxes.len() && boxes[row_end][1].saturating_sub(first[1]) <= tolerance {
            row_end += 1;
        }
        boxes[row_start..row_end].sort_by_key(|b| b[0]);
        row_start = row_end;
    }
}

/// Greedy CTC decoding of `T × classes` probabilities (one row per time step): the best class of
/// each step, repeats merged, blanks (class 0) dropped. Returns the text and the mean probability
/// of the kept steps, or `None` when nothing is kept.
fn ctc_greedy(probs: &[f32], classes: usize, labels: &[String]) -> Option<(String, f32)> {
    if classes == 0 {
        return None;
    }
    let mut text = String::new();
    let (mut sum, mut kept) = (0f32, 0usize);
    let mut previous = None;
    for step in probs.chunks_exact(classes) {
        let (best, p) =
            step.iter()
                .copied()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |acc, (i, p)| if p > acc.1 { (i, p) } else { acc },
                );
        if best != 0
            && previous != Some(best)
            && let Some(label) = labels.get(best)
        {
            text.push_str(label);
            sum += p;
            kept += 1;
        }
        previous = Some(best);
    }
    (kept > 0).then(|| (text, sum / kept as f32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn det_input_sizes_are_multiples_of_32_within_the_limit() {
        for (w, h, want) in [
            (800, 240, (800, 256)),
            (1920, 1080, (960, 544)),
            (10, 10, (32, 32)),
            (100, 4000, (32, 960)),
            (960, 960, (960, 960)),
        ] {
            assert_eq!(det_input_size(w, h), want, "{w}x{h}");
        }
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let labels: Vec<String> = ["", "a", "b", " "].iter().map(|s| s.to_string()).collect();
        // steps: a a blank a b b space b
        let steps = [1, 1, 0, 1, 2, 2, 3, 2];
        let mut probs = Vec::new();
        for &best in &steps {
            let mut row = [0.1f32; 4];
            row[best] = 0.7;
            probs.extend(row);
        }
        let (text, score) = ctc_greedy(&probs, 4, &labels).expect("text");
        assert_eq!(text, "aab b");
        assert!((score - 0.7).abs() < 1e-6);
        let blank = [0.9f32, 0.05, 0.05, 0.0].repeat(5);
        assert_eq!(ctc_greedy(&blank, 4, &labels), None);
    }

    #[test]
    fn db_boxes_finds_separate_components_and_unclips_them() {
        let (w, h) = (64, 32);
        let mut map = vec![0f32; w * h];
        // two blobs: 20x6 at (4,4) and 10x8 at (40,20), probability 0.9
        for (bx, by, bw, bh) in [(4, 4, 20, 6), (40, 20, 10, 8)] {
            for y in by..by + bh {
                for x in bx..bx + bw {
                    map[y * w + x] = 0.9;
                }
            }
        }
        // a low-probability blob (above the pixel threshold, under the box threshold)
        for y in 20..26 {
            for x in 4..14 {
                map[y * w + x] = 0.35;
            }
        }
        let boxes = db_boxes(&map, w, h);
        assert_eq!(boxes.len(), 2, "{boxes:?}");
        // first blob after the 2x2 dilation is 21x7 at (4,4); unclip d = 21*7*1.6/56 = 4.2
        let [x0, y0, x1, y1] = boxes[0];
        assert!(
            (x0 - 0.0).abs() < 1e-3 && (y0 - 0.0).abs() < 1e-3,
            "{:?}",
            boxes[0]
        );
        assert!(
            (x1 - 29.2).abs() < 1e-3 && (y1 - 15.2).abs() < 1e-3,
            "{:?}",
            boxes[0]
        );
        assert!(boxes[1][0] < 40.0 && boxes[1][2] > 51.0);
    }

    #[test]
    fn reading_order_is_rows_then_columns() {
        let mut boxes = vec![
            [300, 52, 400, 80],
            [10, 50, 200, 80],
            [10, 100, 200, 130],
            [5, 10, 100, 40],
        ];
        reading_order(&mut boxes);
        assert_eq!(
            boxes,
            vec![
                [5, 10, 100, 40],
                [10, 50, 200, 80],
                [300, 52, 400, 80],
                [10, 100, 200, 130]
            ]
        );
    }

    #[test]
    fn dimensions_over_the_limits_are_too_large() {
        assert!(matches!(check_dimensions(6000, 4000), Ok(())));
        assert!(matches!(
            check_dimensions(6000, 4200),
            Err(InferenceError::TooLarge(_))
        ));
        assert!(matches!(
            check_dimensions(20_000, 10),
            Err(InferenceError::TooLarge(_))
        ));
        assert!(matches!(
            check_dimensions(0, 10),
            Err(InferenceError::BadInput(_))
        ));
    }
}
