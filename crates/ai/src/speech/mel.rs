//! Whisper's log-mel spectrogram (openai-whisper `audio.py` `log_mel_spectrogram`).
//!
//! The filter bank: Whisper's `mel_filters.npz` holds `librosa.filters.mel(sr=16000,
//! n_fft=400, n_mels=80)` (htk=False, norm="slaney"); the model packages don't ship it and no
//! maintained Rust crate computes it, so this is the same construction (librosa `filters.mel`
//! and `mel_frequencies`), in f64, in a few lines.
//!
//! The STFT is two candle matmuls (frames × DFT basis, power × filters), not candle's
//! `whisper::audio::pcm_to_mel`: that one is generic, so it is compiled in this crate, without
//! the dev profile's opt-level 3 for candle (seconds per clip in tests), and it folds the
//! spectrum as whisper.cpp does; this follows `torch.stft(center=True)` as openai-whisper does.

use candle_core::{Device, Tensor};

/// Slaney's mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above
/// (librosa `hz_to_mel`, htk=False).
fn hz_to_mel(hz: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= MIN_LOG_HZ {
        min_log_mel + (hz / MIN_LOG_HZ).ln() / logstep
    } else {
        hz / F_SP
    }
}

/// The inverse of [`hz_to_mel`] (librosa `mel_to_hz`, htk=False).
fn mel_to_hz(mel: f64) -> f64 {
    const F_SP: f64 = 200.0 / 3.0;
    const MIN_LOG_HZ: f64 = 1000.0;
    let min_log_mel = MIN_LOG_HZ / F_SP;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        MIN_LOG_HZ * (logstep * (mel - min_log_mel)).exp()
    } else {
        F_SP * mel
    }
}

/// The `n_mels × (n_fft/2 + 1)` filter bank, row-major: row `m` weighs the FFT power bins
/// (bin `k` at `k·sr/n_fft` Hz) into mel band `m`; triangles from 0 Hz to `sr/2`, each scaled
/// to unit area in Hz (Slaney normalisation).
pub(crate) fn mel_filters(sample_rate: usize, n_fft: usize, n_mels: usize) -> Vec<f32> {
    let n_bins = n_fft / 2 + 1;
    let fmax = sample_rate as f64 / 2.0;
    let fft_freqs: Vec<f64> = (0..n_bins)
        .map(|k| k as f64 * fmax / (n_bins - 1) as f64)
        .collect();
    let max_mel = hz_to_mel(fmax);
    let mel_freqs: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(max_mel * i as f64 / (n_mels + 1) as f64))
        .collect();
    let mut out = Vec::with_capacity(n_mels * n_bins);
    for m in 0..n_mels {
        let (lo, mid, hi) = (mel_freqs[m], mel_freqs[m + 1], mel_freqs[m + 2]);
        let norm = 2.0 / (hi - lo);
        for &f in &fft_freqs {
            let lower = (f - lo) / (mid - lo);
            let upper = (hi - f) / (hi - mid);
            out.push((lower.min(upper).max(0.0) * norm) as f32);
        }
    }
    out
}

/// The periodic Hann window of `n` samples (`torch.hann_window(n)`).
pub(crate) fn hann_window(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()) as f32)
        .collect()
}

/// The real DFT basis `(n_fft, 2 × (n_fft/2 + 1))`: column `k` is `cos(2πjk/n)`, column
/// `bins + k` is `-sin(2πjk/n)`, so `frames × basis` gives the real and imaginary parts.
pub(crate) fn dft_basis(n_fft: usize, device: &Device) -> candle_core::Result<Tensor> {
    let bins = n_fft / 2 + 1;
    let mut basis = vec![0f32; n_fft * 2 * bins];
    for j in 0..n_fft {
        for k in 0..bins {
            // j·k mod n keeps the angle small, so f64 stays exact over the whole table
            let angle = std::f64::consts::TAU * ((j * k) % n_fft) as f64 / n_fft as f64;
            basis[j * 2 * bins + k] = angle.cos() as f32;
            basis[j * 2 * bins + bins + k] = -angle.sin() as f32;
        }
    }
    Tensor::from_vec(basis, (n_fft, 2 * bins), device)
}

/// The normalised log-mel spectrogram `(n_mels, samples.len() / hop)` of `samples`
/// (openai-whisper `log_mel_spectrogram`): reflect-padded STFT frames every `hop` samples,
/// power spectrum, mel filters, `log10` clamped at 1e-10 and at 8 below the maximum, then
/// `(x + 4) / 4`. `window` is the `n_fft`-sample Hann window, `dft` from [`dft_basis`],
/// `filters` from [`mel_filters`] as `(n_mels, bins)`.
pub(crate) fn log_mel_spectrogram(
    samples: &[f32],
    window: &[f32],
    dft: &Tensor,
    filters: &Tensor,
    hop: usize,
) -> candle_core::Result<Tensor> {
    let n_fft = window.len();
    let half = n_fft / 2;
    if samples.len() <= half || hop == 0 {
        return Err(candle_core::Error::Msg(format!(
            "{} samples are too few for an STFT of {n_fft}",
            samples.len()
        )));
    }
    // center=True, pad_mode="reflect": x[half], ..., x[1], x, x[len-2], ..., x[len-1-half]
    let len = samples.len();
    let padded: Vec<f32> = (1..=half)
        .rev()
        .map(|i| samples[i])
        .chain(samples.iter().copied())
        .chain((1..=half).map(|i| samples[len - 1 - i]))
        .collect();
    // torch.stft gives 1 + len/hop frames; whisper drops the last
    let n_frames = len / hop;
    let mut frames = Vec::with_capacity(n_frames * n_fft);
    for f in 0..n_frames {
        let at = &padded[f * hop..f * hop + n_fft];
        frames.extend(at.iter().zip(window).map(|(x, w)| x * w));
    }
    let bins = dft.dim(1)? / 2;
    let frames = Tensor::from_vec(frames, (n_frames, n_fft), dft.device())?;
    let spectrum = frames.matmul(dft)?;
    let power = (spectrum.narrow(1, 0, bins)?.sqr()? + spectrum.narrow(1, bins, bins)?.sqr()?)?;
    let mel = filters.matmul(&power.t()?)?; // (n_mels, n_frames)
    let log = (mel.maximum(1e-10)?.log()? / std::f64::consts::LN_10)?;
    let max = log.max_all()?.to_scalar::<f32>()?;
    let log = log.maximum(f64::from(max) - 8.0)?;
    (log + 4.0)? / 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whisper_filter_bank() {
        let (n_mels, n_bins) = (80, 201);
        let f = mel_filters(16_000, 400, n_mels);
        assert_eq!(f.len(), n_mels * n_bins);
        assert!(f.iter().all(|&w| w >= 0.0 && w.is_finite()));
        // Values of whisper's mel_filters.npz (librosa 0.8): band 0 rises over 0..37 Hz and
        // falls to zero at 74 Hz, so it only weighs bins 1 (40 Hz); band 79 ends at 8 kHz.
        assert!((f[1] - 0.024_862_6).abs() < 1e-6, "{}", f[1]);
        assert_eq!(f[0], 0.0);
        assert_eq!(f[2], 0.0);
        let mut last_peak = 0;
        for m in 0..n_mels {
            let row = &f[m * n_bins..(m + 1) * n_bins];
            let nonzero: Vec<usize> = (0..n_bins).filter(|&k| row[k] > 0.0).collect();
            // one contiguous triangle per band, peaks moving up in frequency
            let (first, last) = (nonzero[0], nonzero[nonzero.len() - 1]);
            assert_eq!(nonzero.len(), last - first + 1, "band {m} has a hole");
            let peak = (0..n_bins)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .expect("bins");
            assert!(peak >= last_peak, "band {m} peaks below band {}", m - 1);
            last_peak = peak;
            // Slaney normalisation: unit area in Hz (bins are 40 Hz apart); bands from
            // ~1.5 kHz up span 4+ bins, so the discrete sum is close to the integral.
            if m >= 45 {
                let area: f32 = row.iter().sum::<f32>() * 40.0;
                assert!((area - 1.0).abs() < 0.02, "band {m} area {area}");
            }
        }
        assert!(last_peak > 190, "top band peaks at bin {last_peak}");
    }

    #[test]
    fn spectrogram_of_a_tone_peaks_in_its_band() {
        // 1 s of a 1 kHz sine: every frame's largest band is the one whose triangle holds
        // bin 25 (1000 Hz), and values are normalised to at most (log10(max) + 4) / 4.
        let sr = 16_000;
        let tone: Vec<f32> = (0..sr)
            .map(|i| (std::f64::consts::TAU * 1000.0 * i as f64 / sr as f64).sin() as f32 * 0.5)
            .collect();
        let filters = mel_filters(sr, 400, 80);
        let band_of_1khz = (0..80)
            .max_by(|&a, &b| filters[a * 201 + 25].total_cmp(&filters[b * 201 + 25]))
            .expect("bands");
        let dev = Device::Cpu;
        let mel = log_mel_spectrogram(
            &tone,
            &hann_window(400),
            &dft_basis(400, &dev).expect("dft"),
            &Tensor::from_vec(filters, (80, 201), &dev).expect("filters"),
            160,
        )
        .expect("mel");
        assert_eq!(mel.dims(), &[80, 100]);
        let mel = mel.t().expect("t").to_vec2::<f32>().expect("vec");
        for frame in &mel[1..99] {
            let peak = (0..80)
                .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                .expect("bands");
            assert_eq!(peak, band_of_1khz);
            // dynamic range clamped to 8 decades below the peak, i.e. 2.0 after scaling
            let (lo, hi) = frame
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            assert!(hi - lo <= 2.0 + 1e-5, "{lo} {hi}");
        }
    }

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }
}
