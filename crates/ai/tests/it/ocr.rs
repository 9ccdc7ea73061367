//! The OCR engine on real images: text rendered by ffmpeg's `drawtext` filter with the DejaVu
//! fonts (Debian `fonts-dejavu-core`, installed by `scripts/setup.sh`), read back by the real
//! PP-OCRv4 models from the installed models directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use livepeer_ai::InferenceError;
use livepeer_ai::ModelsDir;
use livepeer_ai::ocr::OcrEngine;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// One engine for the whole binary: loading optimises both models, and sharing it across the
/// test threads exercises concurrent `recognize` calls.
fn engine() -> &'static OcrEngine {
    static ENGINE: OnceLock<OcrEngine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let models = ModelsDir::discover().expect("no models directory: run scripts/setup.sh");
        OcrEngine::load(&models.ocr()).expect("load the PP-OCRv4 models (run scripts/setup.sh)")
    })
}

/// A line of text to draw: the text, its top-left corner and font size in pixels.
pub(crate) struct Line {
    pub(crate) text: &'static str,
    pub(crate) x: u32,
    pub(crate) y: u32,
    pub(crate) size: u32,
}

/// Renders `lines` on a `width`×`height` background with ffmpeg and returns the encoded file
/// (format from `name`'s extension). `pre` is a filter applied to the background before the
/// text is drawn (noise), `color` the text colour.
pub(crate) fn render(
    dir: &Path,
    name: &str,
    (width, height): (u32, u32),
    background: &str,
    pre: Option<&str>,
    color: &str,
    lines: &[Line],
) -> Vec<u8> {
    assert!(
        Path::new(FONT).exists(),
        "{FONT} is missing: run scripts/setup.sh"
    );
    let mut filters: Vec<String> = pre.map(str::to_owned).into_iter().collect();
    for (i, line) in lines.iter().enumerate() {
        // textfile= sidesteps the filtergraph's escaping rules for the text itself.
        let text_file = dir.join(format!("{name}.{i}.txt"));
        std::fs::write(&text_file, line.text).expect("write text file");
        filters.push(format!(
            "drawtext=fontfile={FONT}:textfile={}:fontsize={}:fontcolor={color}:x={}:y={}",
            text_file.display(),
            line.size,
            line.x,
            line.y
        ));
    }
    filters.push("format=rgb24".to_owned());
    let out: PathBuf = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("color=c={background}:s={width}x{height}:d=1"))
        .arg("-vf")
        .arg(filters.join(","))
        .args(["-frames:v", "1", "-q:v", "3"])
        .arg(&out)
        .status()
        .expect("run ffmpeg (run scripts/setup.sh)");
    assert!(status.success(), "ffmpeg failed rendering {name}");
    std::fs::read(&out).expect("read rendered image")
}

/// Character error rate: char-level Levenshtein distance / reference length, after collapsing
/// whitespace runs (line breaks included) to single spaces.
pub(crate) fn cer(reference: &str, hypothesis: &str) -> f64 {
    let norm = |s: &str| {
        s.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .collect::<Vec<_>>()
    };
    let (r, h) = (norm(reference), norm(hypothesis));
    let mut row: Vec<usize> = (0..=h.len()).collect();
    for (i, rc) in r.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, hc) in h.iter().enumerate() {
            let substitution = diagonal + usize::from(rc != hc);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[h.len()] as f64 / r.len().max(1) as f64
}

#[test]
fn cer_counts_edits_per_reference_character() {
    assert_eq!(cer("abc def", "abc  def"), 0.0);
    assert_eq!(cer("abcd", "abxd"), 0.25);
    assert_eq!(cer("ab\ncd", "ab cd"), 0.0);
    assert_eq!(cer("abcd", ""), 1.0);
}

const THREE_LINES: [Line; 3] = [
    Line {
        text: "The quick brown fox jumps over the lazy dog",
        x: 30,
        y: 40,
        size: 36,
    },
    Line {
        text: "Livepeer transcodes video on a network",
        x: 30,
        y: 110,
        size: 36,
    },
    Line {
        text: "Orchestrators redeem 42 winning tickets",
        x: 30,
        y: 180,
        size: 36,
    },
];

fn expected(lines: &[Line]) -> String {
    lines.iter().map(|l| l.text).collect::<Vec<_>>().join("\n")
}

/// Checks the lines read from an image of `drawn`: the text within 10 % CER, one line per drawn
/// line, in order, each box around where the line was drawn.
fn assert_reads(label: &str, image: &[u8], drawn: &[Line]) {
    let lines = engine().recognize(image).expect("recognize");
    let text = lines
        .iter()
        .map(|l| l.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let want = expected(drawn);
    let rate = cer(&want, &text);
    eprintln!("{label}: CER {rate:.3}: {text:?}");
    assert!(
        rate <= 0.10,
        "{label}: CER {rate:.3} over 10 %: read {text:?}, drawn {want:?}"
    );
    assert_eq!(
        lines.len(),
        drawn.len(),
        "{label}: one line per drawn line: {lines:?}"
    );
    for (line, drawn) in lines.iter().zip(drawn) {
        let [x0, y0, x1, y1] = line.bbox;
        let centre = (y0 + y1) / 2;
        assert!(
            centre >= drawn.y && centre <= drawn.y + drawn.size,
            "{label}: box {:?} of {:?} is not on the line drawn at y={}",
            line.bbox,
            line.text,
            drawn.y
        );
        assert!(
            x0 <= drawn.x + 5 && x1 > drawn.x + 300,
            "{label}: box {:?} too narrow",
            line.bbox
        );
        assert!(
            (0.5..=1.0).contains(&line.score),
            "{label}: score {}",
            line.score
        );
    }
    assert_eq!(
        engine().read_text(image).expect("read_text"),
        text,
        "{label}: read_text"
    );
}

#[test]
fn reads_black_text_on_white_png_and_jpeg_concurrently() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = render(
        dir.path(),
        "lines.png",
        (900, 260),
        "white",
        None,
        "black",
        &THREE_LINES,
    );
    let jpeg = render(
        dir.path(),
        "lines.jpg",
        (900, 260),
        "white",
        None,
        "black",
        &THREE_LINES,
    );
    assert_eq!(&png[1..4], b"PNG");
    assert_eq!(&jpeg[..2], [0xff, 0xd8]);
    // the same engine from two threads at once
    std::thread::scope(|s| {
        s.spawn(|| assert_reads("png", &png, &THREE_LINES));
        s.spawn(|| assert_reads("jpeg", &jpeg, &THREE_LINES));
    });
}

#[test]
fn reads_light_text_on_a_noisy_coloured_background() {
    let dir = tempfile::tempdir().expect("tempdir");
    let drawn = [
        Line {
            text: "Segment 17 was transcoded",
            x: 40,
            y: 50,
            size: 40,
        },
        Line {
            text: "Price per pixel 1200 wei",
            x: 40,
            y: 140,
            size: 40,
        },
    ];
    let jpeg = render(
        dir.path(),
        "noisy.jpg",
        (720, 240),
        "0x1f4e79",
        Some("noise=alls=40:allf=u"),
        "yellow",
        &drawn,
    );
    assert_reads("noisy jpeg", &jpeg, &drawn);
}

#[test]
fn a_blank_image_has_no_text() {
    let dir = tempfile::tempdir().expect("tempdir");
    let png = render(
        dir.path(),
        "blank.png",
        (640, 480),
        "white",
        None,
        "black",
        &[],
    );
    assert_eq!(engine().recognize(&png).expect("recognize"), vec![]);
    assert_eq!(engine().read_text(&png).expect("read_text"), "");
}

#[test]
fn garbage_and_truncated_images_are_bad_input() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let err = engine().recognize(&garbage).expect_err("garbage bytes");
    assert!(matches!(err, InferenceError::BadInput(_)), "{err:?}");

    let dir = tempfile::tempdir().expect("tempdir");
    let png = render(
        dir.path(),
        "cut.png",
        (320, 120),
        "white",
        None,
        "black",
        &THREE_LINES[..1],
    );
    let err = engine()
        .recognize(&png[..png.len() / 2])
        .expect_err("truncated png");
    assert!(matches!(err, InferenceError::BadInput(_)), "{err:?}");
    let err = engine().recognize(&[]).expect_err("no bytes");
    assert!(matches!(err, InferenceError::BadInput(_)), "{err:?}");
}

#[test]
fn huge_declared_dimensions_are_too_large_before_decoding() {
    // A real JPEG whose frame header (SOF0) is patched to declare 60000x60000 pixels (10.8 GB
    // of RGB): rejected from the header alone.
    let dir = tempfile::tempdir().expect("tempdir");
    let mut jpeg = render(
        dir.path(),
        "small.jpg",
        (64, 48),
        "white",
        None,
        "black",
        &[],
    );
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("baseline JPEG SOF0 marker");
    // marker, length (2), precision (1), height (2), width (2)
    jpeg[sof + 5..sof + 9].copy_from_slice(&[0xea, 0x60, 0xea, 0x60]);
    let err = engine().recognize(&jpeg).expect_err("60000x60000 jpeg");
    assert!(matches!(err, InferenceError::TooLarge(_)), "{err:?}");

    // A bare BMP header declaring 8000x8000 (64 Mpx, over the pixel limit but under the side limit).
    let mut bmp = Vec::new();
    bmp.extend_from_slice(b"BM");
    bmp.extend_from_slice(&(54u32 + 16).to_le_bytes()); // file size (lies)
    bmp.extend_from_slice(&[0; 4]);
    bmp.extend_from_slice(&54u32.to_le_bytes()); // pixel data offset
    bmp.extend_from_slice(&40u32.to_le_bytes()); // BITMAPINFOHEADER
    bmp.extend_from_slice(&8000i32.to_le_bytes());
    bmp.extend_from_slice(&8000i32.to_le_bytes());
    bmp.extend_from_slice(&1u16.to_le_bytes()); // planes
    bmp.extend_from_slice(&24u16.to_le_bytes()); // bits per pixel
    bmp.extend_from_slice(&[0; 24]); // no compression, sizes and palette zero
    bmp.extend_from_slice(&[0; 16]);
    let err = engine().recognize(&bmp).expect_err("8000x8000 bmp");
    assert!(matches!(err, InferenceError::TooLarge(_)), "{err:?}");
}
