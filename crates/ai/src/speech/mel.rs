//! Whisper's log-mel filter bank, computed instead of shipped.
//!
//! Whisper's `mel_filters.npz` holds `librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)`
//! (htk=False, norm="slaney"); the model packages don't ship it and no maintained Rust crate
//! computes it, so this is the same construction (librosa `filters.mel` and `mel_frequencies`),
//! in f64, in a few lines.

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
    fn mel_scale_round_trips() {
        for hz in [0.0, 100.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
    }
}
