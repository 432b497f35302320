//! The workspace's one seeded PRNG: xoshiro256** (Blackman & Vigna) seeded through
//! SplitMix64. Ours rather than a crate's, so generated data, splits and initial
//! factors never change with a dependency upgrade, and the same on every platform.

/// SplitMix64: one step of the seeding generator.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    finalize(*state)
}

/// SplitMix64's output function: a well-mixed 64-bit hash of one word.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A stateless hash of one word: the SplitMix64 step of state `z` (for values that
/// must be pure functions of their coordinates, e.g. a baseline's score of a pair).
pub fn mix64(z: u64) -> u64 {
    finalize(z.wrapping_add(0x9E37_79B9_7F4A_7C15))
}

/// xoshiro256**: small, fast, deterministic.
#[derive(Clone, Debug)]
pub struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    /// The generator for stream `stream` of seed `seed` (stream 0 is seeded by `seed`
    /// alone), so independent uses of one seed draw independent sequences.
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut sm = seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Xoshiro256 { s }
    }

    /// The generator with raw state `s` (for reference tests; use [`Xoshiro256::new`]).
    pub fn from_state(s: [u64; 4]) -> Self {
        Xoshiro256 { s }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [0, 1) with 24 random bits (exact in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform integer in `0..n` (multiply-shift; bias < n / 2^64).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64();
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference C implementations' outputs (prng.di.unimi.it): xoshiro256** from
    /// state {1, 2, 3, 4}, SplitMix64 from seed 1234567.
    #[test]
    fn known_answers_of_the_reference_generators() {
        let mut x = Xoshiro256::from_state([1, 2, 3, 4]);
        let got: Vec<u64> = (0..6).map(|_| x.next_u64()).collect();
        assert_eq!(
            got,
            [
                11520,
                0,
                1509978240,
                1215971899390074240,
                1216172134540287360,
                607988272756665600
            ]
        );
        let mut sm = 1234567u64;
        let got: Vec<u64> = (0..3).map(|_| splitmix64(&mut sm)).collect();
        assert_eq!(
            got,
            [
                6457827717110365317,
                3203168211198807973,
                9817491932198370423
            ]
        );
        let mut sm = 1234567u64;
        assert_eq!(mix64(1234567), splitmix64(&mut sm));
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Xoshiro256::new(42, 0);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Xoshiro256::new(42, 0);
                move |_| r.next_u64()
            })
            .collect();
        let c: Vec<u64> = (0..4)
            .map({
                let mut r = Xoshiro256::new(42, 1);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut r = Xoshiro256::new(7, 3);
        for _ in 0..1000 {
            assert!(r.below(10) < 10);
            let x = r.next_f32();
            assert!((0.0..1.0).contains(&x));
        }
    }
}
