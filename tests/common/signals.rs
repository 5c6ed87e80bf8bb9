//! Generated audio whose similarity is known: tones, pink noise and click tracks.

use std::path::{Path, PathBuf};

/// Sample rate of the generated tracks.
pub const RATE: u32 = 16_000;

/// Deterministic noise (xorshift), uniform in [-1, 1).
pub struct Noise(pub u64);

impl Noise {
    pub fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// A sine at `hz` with a slight vibrato (0.3 % at `vibrato_hz`).
pub fn sine(hz: f32, amplitude: f32, vibrato_hz: f32, seconds: usize) -> Vec<f32> {
    let mut phase = 0.0f64;
    (0..RATE as usize * seconds)
        .map(|i| {
            let t = i as f64 / f64::from(RATE);
            let f = f64::from(hz) * (1.0 + 0.003 * (2.0 * std::f64::consts::PI * f64::from(vibrato_hz) * t).sin());
            phase += 2.0 * std::f64::consts::PI * f / f64::from(RATE);
            amplitude * phase.sin() as f32
        })
        .collect()
}

/// Pink noise (Paul Kellet's filter on white noise).
pub fn pink(seed: u64, amplitude: f32, seconds: usize) -> Vec<f32> {
    let mut n = Noise(seed);
    let mut b = [0.0f32; 7];
    let raw: Vec<f32> = (0..RATE as usize * seconds)
        .map(|_| {
            let w = n.next();
            b[0] = 0.99886 * b[0] + w * 0.0555179;
            b[1] = 0.99332 * b[1] + w * 0.0750759;
            b[2] = 0.96900 * b[2] + w * 0.153_852;
            b[3] = 0.86650 * b[3] + w * 0.3104856;
            b[4] = 0.55000 * b[4] + w * 0.5329522;
            b[5] = -0.7616 * b[5] - w * 0.0168980;
            let out = b.iter().sum::<f32>() + w * 0.5362;
            b[6] = w * 0.115926;
            out
        })
        .collect();
    let peak = raw.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    raw.iter().map(|v| v / peak * amplitude).collect()
}

/// Clicks: a 50 ms decaying noise burst on every beat at `bpm`.
pub fn clicks(bpm: f32, seed: u64, seconds: usize) -> Vec<f32> {
    let mut n = Noise(seed);
    let len = RATE as usize * seconds;
    let period = (RATE as f32 * 60.0 / bpm) as usize;
    let mut y = vec![0.0f32; len];
    for start in (0..len).step_by(period) {
        for k in 0..800.min(len - start) {
            y[start + k] += 0.8 * (-(k as f32) / 80.0).exp() * n.next();
        }
    }
    y
}

/// Twelve generated tracks in three families of four: `sine*.wav` (220 to 660 Hz),
/// `noise*.wav` (pink noise), `click*.wav` (90 to 150 beats per minute).
pub fn families(dir: &Path, seconds: usize) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = Vec::new();
    for (i, hz) in [220.0, 330.0, 440.0, 660.0].into_iter().enumerate() {
        let p = dir.join(format!("sine{i}.wav"));
        super::write_wav_f32(&p, RATE, &sine(hz, 0.3 + 0.05 * i as f32, 4.0 + i as f32, seconds));
        out.push(p);
    }
    for i in 0..4 {
        let p = dir.join(format!("noise{i}.wav"));
        super::write_wav_f32(&p, RATE, &pink(0x9e37_79b9 + i, 0.3 + 0.05 * i as f32, seconds));
        out.push(p);
    }
    for (i, bpm) in [90.0, 110.0, 130.0, 150.0].into_iter().enumerate() {
        let p = dir.join(format!("click{i}.wav"));
        super::write_wav_f32(&p, RATE, &clicks(bpm, 0x51_7cc1 + i as u64, seconds));
        out.push(p);
    }
    out
}
