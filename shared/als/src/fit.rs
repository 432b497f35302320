//! Alternating least squares: initialisation, the two half-iterations, the objective.

use crate::kernels::{self, axpy, cg_weight, dot, padded, syrk_lower, Portable, Simd};
use crate::matrix::Compressed;
use crate::{AlsError, AlsModel, AlsParams, Confidence, InteractionMatrix, RegScaling, Solver};
use alsflow_core::rng::Xoshiro256;
use rayon::prelude::*;

/// Rows solved per parallel task: fixed, so the partition (and with it every
/// per-chunk reduction) does not depend on the thread count.
const ROWS_PER_TASK: usize = 32;
/// Rows per partial sum of a Gram matrix; partial sums are added in chunk order.
const GRAM_CHUNK: usize = 4096;
/// Nonzeros gathered at once when building a row's normal equations (keeps the
/// gathered block in L1/L2).
const GATHER_BLOCK: usize = 128;
/// Initial factors are uniform in [0, INIT_SCALE), as `implicit` does.
const INIT_SCALE: f32 = 0.01;

/// Fit a model on `m` with `p`.
pub fn fit(m: &InteractionMatrix, p: &AlsParams) -> Result<AlsModel, AlsError> {
    fit_impl(m, p, None)
}

/// Like [`fit`], calling `on_iteration(iter, &model)` (1-based `iter`) after every
/// iteration. The model passed at iteration k is bit-identical to `fit` with
/// `max_iter = k` (apart from `params.max_iter`).
pub fn fit_with(
    m: &InteractionMatrix,
    p: &AlsParams,
    on_iteration: &mut dyn FnMut(usize, &AlsModel),
) -> Result<AlsModel, AlsError> {
    fit_impl(m, p, Some(on_iteration))
}

/// Check every parameter; the error names the first bad one.
pub(crate) fn validate(p: &AlsParams) -> Result<(), AlsError> {
    let bad = |param: &'static str, message: String| Err(AlsError::BadParam { param, message });
    if p.rank == 0 {
        return bad("rank", "must be at least 1".into());
    }
    if p.rank > 4096 {
        return bad(
            "rank",
            format!("{} is larger than the supported 4096", p.rank),
        );
    }
    if !(p.reg_param.is_finite() && p.reg_param >= 0.0) {
        return bad(
            "reg_param",
            format!("{} must be a finite number ≥ 0", p.reg_param),
        );
    }
    if !(p.alpha.is_finite() && p.alpha >= 0.0) {
        return bad("alpha", format!("{} must be a finite number ≥ 0", p.alpha));
    }
    if p.confidence == Confidence::Log && !(p.eps.is_finite() && p.eps > 0.0) {
        return bad(
            "eps",
            format!(
                "{} must be a finite number > 0 with confidence = \"log\"",
                p.eps
            ),
        );
    }
    if p.solver == Solver::Cg && !p.nonnegative && p.cg_steps == 0 {
        return bad("cg_steps", "must be at least 1 with solver = \"cg\"".into());
    }
    Ok(())
}

/// Initial factors (padded rows): uniform [0, 0.01) for rows with interactions, zero
/// otherwise. Generated sequentially from one stream, so independent of threads.
fn init_factors(rng: &mut Xoshiro256, rows: &Compressed, k: usize, kp: usize) -> Vec<f32> {
    let n = rows.rows();
    let mut f = vec![0f32; n * kp];
    for r in 0..n {
        let empty = rows.indptr[r] == rows.indptr[r + 1];
        for j in 0..k {
            let v = rng.next_f32() * INIT_SCALE;
            if !empty {
                f[r * kp + j] = v;
            }
        }
    }
    f
}

/// Confidence c and preference p of an interaction value.
#[inline(always)]
fn confidence(p: &AlsParams, r: f32) -> (f32, f32) {
    let a = r.abs();
    let c = match p.confidence {
        Confidence::Linear => 1.0 + p.alpha * a,
        Confidence::Log => 1.0 + p.alpha * (a / p.eps).ln_1p(),
    };
    (c, if r > 0.0 { 1.0 } else { 0.0 })
}

/// λ for a row with `nnz` interactions.
#[inline(always)]
fn row_lambda(p: &AlsParams, nnz: usize) -> f32 {
    match p.reg_scaling {
        RegScaling::Plain => p.reg_param,
        RegScaling::PerInteraction => p.reg_param * nnz as f32,
    }
}

/// The per-iteration observer of [`fit_with`].
type IterationCallback<'a> = &'a mut dyn FnMut(usize, &AlsModel);

fn fit_impl(
    m: &InteractionMatrix,
    p: &AlsParams,
    mut on_iteration: Option<IterationCallback<'_>>,
) -> Result<AlsModel, AlsError> {
    validate(p)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(p.threads)
        .build()
        .map_err(|e| AlsError::ThreadPool {
            threads: p.threads,
            message: e.to_string(),
        })?;
    let (k, kp) = (p.rank, padded(p.rank));
    let mut rng = Xoshiro256::new(p.seed, 0);
    let mut x = init_factors(&mut rng, &m.by_user, k, kp);
    let mut y = init_factors(&mut rng, &m.by_item, k, kp);
    let mut loss = Vec::new();
    // Gram of the item factors carried from the end of one iteration (where the
    // loss needs it) to the user half of the next. The callback runs outside the
    // pool (it need not be Send).
    let mut gram_y: Option<Vec<f32>> = None;
    for iter in 1..=p.max_iter {
        pool.install(|| -> Result<(), AlsError> {
            let gy = match gram_y.take() {
                Some(g) => g,
                None => gram(&y, kp),
            };
            solve_half(
                &Half {
                    side: "user",
                    rows: &m.by_user,
                    other: &y,
                    gram: &gy,
                    k,
                    kp,
                    p,
                },
                &mut x,
            )?;
            let gx = gram(&x, kp);
            solve_half(
                &Half {
                    side: "item",
                    rows: &m.by_item,
                    other: &x,
                    gram: &gx,
                    k,
                    kp,
                    p,
                },
                &mut y,
            )?;
            if p.compute_loss {
                let gy = gram(&y, kp);
                loss.push(objective(m, p, &x, &y, &gy, kp));
                gram_y = Some(gy);
            }
            Ok(())
        })?;
        if let Some(l) = loss.last() {
            tracing::debug!(iter, loss = l, "ALS iteration");
        }
        if let Some(cb) = on_iteration.as_deref_mut() {
            let mut params = p.clone();
            params.max_iter = iter;
            cb(iter, &export(m, &params, &x, &y, k, kp, iter, &loss));
        }
    }
    Ok(export(m, p, &x, &y, k, kp, p.max_iter, &loss))
}

/// Build the public model from the padded factors.
#[allow(clippy::too_many_arguments)]
fn export(
    m: &InteractionMatrix,
    p: &AlsParams,
    x: &[f32],
    y: &[f32],
    k: usize,
    kp: usize,
    iterations: usize,
    loss: &[f64],
) -> AlsModel {
    let unpad = |f: &[f32]| -> Vec<f32> {
        if k == kp {
            f.to_vec()
        } else {
            f.chunks_exact(kp)
                .flat_map(|r| r[..k].iter().copied())
                .collect()
        }
    };
    AlsModel {
        params: p.clone(),
        n_users: m.n_users(),
        n_items: m.n_items(),
        rank: k,
        user_factors: unpad(x),
        item_factors: unpad(y),
        iterations,
        loss: loss.to_vec(),
    }
}

/// Full symmetric `FᵀF` (`kp × kp`) of padded factors `f`, summed in fixed chunks.
pub(crate) fn gram(f: &[f32], kp: usize) -> Vec<f32> {
    let parts: Vec<Vec<f32>> = f
        .par_chunks(GRAM_CHUNK * kp)
        .map(|chunk| {
            let mut g = vec![0f32; kp * kp];
            gram_chunk(chunk, kp, &mut g);
            g
        })
        .collect();
    let mut g = vec![0f32; kp * kp];
    for part in &parts {
        for (a, b) in g.iter_mut().zip(part) {
            *a += *b;
        }
    }
    kernels::mirror_lower(&mut g, kp, kp);
    g
}

fn gram_chunk(chunk: &[f32], kp: usize, g: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if kernels::have_avx2_fma() {
        // SAFETY: the CPU supports the features the function is compiled for.
        unsafe { gram_chunk_avx2(chunk, kp, g) };
        return;
    }
    syrk_lower(chunk, chunk, chunk.len() / kp, kp, g);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gram_chunk_avx2(chunk: &[f32], kp: usize, g: &mut [f32]) {
    syrk_lower(chunk, chunk, chunk.len() / kp, kp, g);
}

/// One half-iteration's fixed inputs: solve the rows of `rows` against `other`.
pub(crate) struct Half<'a> {
    pub(crate) side: &'static str,
    pub(crate) rows: &'a Compressed,
    pub(crate) other: &'a [f32],
    pub(crate) gram: &'a [f32],
    pub(crate) k: usize,
    pub(crate) kp: usize,
    pub(crate) p: &'a AlsParams,
}

/// Solve every row of `h.rows` into `f` (padded rows) in parallel. Each row depends
/// only on its own inputs, so scheduling cannot change a bit; on failure the error
/// of the lowest failing row is returned.
pub(crate) fn solve_half(h: &Half<'_>, f: &mut [f32]) -> Result<(), AlsError> {
    let results: Vec<Result<(), (usize, String)>> = f
        .par_chunks_mut(ROWS_PER_TASK * h.kp)
        .enumerate()
        .map(|(t, chunk)| solve_rows(h, t * ROWS_PER_TASK, chunk))
        .collect();
    for r in results {
        if let Err((row, message)) = r {
            return Err(AlsError::Numerical {
                side: h.side,
                row,
                message,
            });
        }
    }
    Ok(())
}

fn solve_rows(h: &Half<'_>, first: usize, chunk: &mut [f32]) -> Result<(), (usize, String)> {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = kernels::Avx2::detect() {
        // SAFETY: the CPU supports the features the function is compiled for.
        return unsafe { solve_rows_avx2(h, first, chunk, simd) };
    }
    solve_rows_impl(h, first, chunk, Portable)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn solve_rows_avx2(
    h: &Half<'_>,
    first: usize,
    chunk: &mut [f32],
    simd: kernels::Avx2,
) -> Result<(), (usize, String)> {
    solve_rows_impl(h, first, chunk, simd)
}

/// Scratch buffers of one task.
struct Scratch {
    /// Per nonzero of the current row: c − 1 and c·p.
    cm1: Vec<f32>,
    cp: Vec<f32>,
    a: Vec<f32>,
    b: Vec<f32>,
    r: Vec<f32>,
    d: Vec<f32>,
    ad: Vec<f32>,
    yu: Vec<f32>,
    wu: Vec<f32>,
}

#[inline(always)]
fn solve_rows_impl<S: Simd>(
    h: &Half<'_>,
    first: usize,
    chunk: &mut [f32],
    simd: S,
) -> Result<(), (usize, String)> {
    let kp = h.kp;
    let exact = h.p.nonnegative || h.p.solver == Solver::Cholesky;
    let mut s = Scratch {
        cm1: Vec::new(),
        cp: Vec::new(),
        a: if exact {
            vec![0f32; kp * kp]
        } else {
            Vec::new()
        },
        b: vec![0f32; kp],
        r: vec![0f32; kp],
        d: vec![0f32; kp],
        ad: vec![0f32; kp],
        yu: if exact {
            vec![0f32; GATHER_BLOCK * kp]
        } else {
            Vec::new()
        },
        wu: if exact {
            vec![0f32; GATHER_BLOCK * kp]
        } else {
            Vec::new()
        },
    };
    for (i, x) in chunk.chunks_exact_mut(kp).enumerate() {
        let row = first + i;
        let (idx, val) = h.rows.row(row);
        if idx.is_empty() {
            // Spark's convention: no data, zero factors (never NaN, never noise).
            x.fill(0.0);
            continue;
        }
        let res = if exact {
            solve_exact(h, idx, val, x, &mut s, simd)
        } else {
            solve_cg(h, idx, val, x, &mut s, simd)
        };
        res.map_err(|e| (row, e))?;
        if !x.iter().all(|v| v.is_finite()) {
            return Err((row, "the solution is not finite".into()));
        }
    }
    Ok(())
}

/// Build A = G + Σ (c−1)·y·yᵀ + λI (lower triangle) and b = Σ c·p·y, then solve
/// exactly (Cholesky) or under x ≥ 0 (NNLS).
#[inline(always)]
fn solve_exact<S: Simd>(
    h: &Half<'_>,
    idx: &[u32],
    val: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
    simd: S,
) -> Result<(), String> {
    let (k, kp) = (h.k, h.kp);
    s.a.copy_from_slice(h.gram);
    s.b.fill(0.0);
    for (bi, bv) in idx.chunks(GATHER_BLOCK).zip(val.chunks(GATHER_BLOCK)) {
        for (t, (&j, &r)) in bi.iter().zip(bv).enumerate() {
            let yj = &h.other[j as usize * kp..(j as usize + 1) * kp];
            let (c, pref) = confidence(h.p, r);
            let yu = &mut s.yu[t * kp..(t + 1) * kp];
            yu.copy_from_slice(yj);
            let wu = &mut s.wu[t * kp..(t + 1) * kp];
            for (w, yv) in wu.iter_mut().zip(yj) {
                *w = (c - 1.0) * *yv;
            }
            if pref > 0.0 {
                axpy(c * pref, yj, &mut s.b);
            }
        }
        syrk_lower(&s.wu, &s.yu, bi.len(), kp, &mut s.a);
    }
    let lambda = row_lambda(h.p, idx.len());
    for j in 0..k {
        s.a[j * kp + j] += lambda;
    }
    if h.p.nonnegative {
        kernels::nnls(&s.a, kp, k, &s.b, x)?;
    } else {
        kernels::cholesky(&mut s.a, kp, k, simd)?;
        kernels::cholesky_solve(&s.a, kp, k, &mut s.b, simd);
        x[..k].copy_from_slice(&s.b[..k]);
    }
    x[k..].fill(0.0);
    Ok(())
}

/// `out = (G + λI)·v + Σ (c−1)·(y·v)·y` without forming the matrix.
#[inline(always)]
fn apply_a<S: Simd, R: RowSource>(
    h: &Half<'_>,
    rows: &R,
    cm1: &[f32],
    lambda: f32,
    v: &[f32],
    out: &mut [f32],
    simd: S,
) {
    let kp = h.kp;
    simd.symv(h.gram, kp, kp, v, out);
    simd.axpy(lambda, v, out);
    nonzero_pass(rows, cm1, None, v, out, simd);
}

/// How many rows ahead the gather prefetches.
const PREFETCH_ROWS: usize = 8;

/// Factor matrices smaller than this (1 MiB) stay in cache: CG reads their rows
/// in place instead of gathering a copy.
const GATHER_MIN_FLOATS: usize = 1 << 18;

/// Largest gathered copy (floats) of a row's factor rows kept for the CG passes.
const CG_GATHER_CAP: usize = 1 << 20;

/// The factor rows of one row's nonzeros, by position `t` in the row.
trait RowSource {
    fn get(&self, t: usize) -> &[f32];
    /// Hint that rows `t..t + 8` come next.
    fn prefetch<S: Simd>(&self, _t: usize, _simd: S) {}
}

/// A contiguous gathered copy: read at random once, then sequentially by every pass.
struct Gathered<'r> {
    buf: &'r [f32],
    kp: usize,
}

impl RowSource for Gathered<'_> {
    #[inline(always)]
    fn get(&self, t: usize) -> &[f32] {
        &self.buf[t * self.kp..(t + 1) * self.kp]
    }
}

/// The rows read in place: small (cache-resident) factor matrices, or huge rows.
struct Indexed<'r> {
    other: &'r [f32],
    idx: &'r [u32],
    kp: usize,
    /// Whether to prefetch ahead (the matrix is too large to stay in cache).
    scattered: bool,
}

impl RowSource for Indexed<'_> {
    #[inline(always)]
    fn get(&self, t: usize) -> &[f32] {
        let j = self.idx[t] as usize;
        &self.other[j * self.kp..(j + 1) * self.kp]
    }

    #[inline(always)]
    fn prefetch<S: Simd>(&self, t: usize, simd: S) {
        if self.scattered {
            for ahead in t + PREFETCH_ROWS..(t + PREFETCH_ROWS + 8).min(self.idx.len()) {
                simd.prefetch(self.get(ahead));
            }
        }
    }
}

/// `out += Σ_t w_t·y_t` over the row's nonzeros with `w_t = cp_t − cm1_t·(y_t·v)`
/// (given `cp`) or `cm1_t·(y_t·v)`, eight at a time (eight independent dot
/// products in flight, enough to hide the latency of the fused multiply-adds, and
/// one sweep over `out` per eight rows); the result equals the one-at-a-time loop
/// bit for bit.
#[inline(always)]
fn nonzero_pass<S: Simd, R: RowSource>(
    rows: &R,
    cm1: &[f32],
    cp: Option<&[f32]>,
    v: &[f32],
    out: &mut [f32],
    simd: S,
) {
    let n = cm1.len();
    let weight = |t: usize, d: f32| cg_weight(cm1[t], cp.map(|cp| cp[t]), d);
    let mut t = 0;
    while t + 8 <= n {
        rows.prefetch(t, simd);
        // Spelled out: `array::from_fn` is not always inlined here.
        let ys = [
            rows.get(t),
            rows.get(t + 1),
            rows.get(t + 2),
            rows.get(t + 3),
            rows.get(t + 4),
            rows.get(t + 5),
            rows.get(t + 6),
            rows.get(t + 7),
        ];
        let c8: &[f32; 8] = cm1[t..t + 8].try_into().expect("eight weights");
        let p8: Option<&[f32; 8]> = cp.map(|cp| cp[t..t + 8].try_into().expect("eight weights"));
        simd.pass8(ys, v, c8, p8, out);
        t += 8;
    }
    if n - t >= 4 {
        let ys = [
            rows.get(t),
            rows.get(t + 1),
            rows.get(t + 2),
            rows.get(t + 3),
        ];
        let d = simd.dot4(ys, v);
        let w = [
            weight(t, d[0]),
            weight(t + 1, d[1]),
            weight(t + 2, d[2]),
            weight(t + 3, d[3]),
        ];
        simd.axpy4(w, ys, out);
        t += 4;
    }
    for t in t..n {
        let yj = rows.get(t);
        simd.axpy(weight(t, simd.dot(yj, v)), yj, out);
    }
}

/// `cg_steps` warm-started conjugate-gradient steps (Takács et al. 2011; `implicit`'s
/// `least_squares_cg`), starting from the row's current factors.
#[inline(always)]
fn solve_cg<S: Simd>(
    h: &Half<'_>,
    idx: &[u32],
    val: &[f32],
    x: &mut [f32],
    s: &mut Scratch,
    simd: S,
) -> Result<(), String> {
    let kp = h.kp;
    let n = idx.len();
    s.cm1.clear();
    s.cp.clear();
    for &r in val {
        let (c, pref) = confidence(h.p, r);
        s.cm1.push(c - 1.0);
        s.cp.push(c * pref);
    }
    let big = h.other.len() >= GATHER_MIN_FLOATS;
    if big && n * kp <= CG_GATHER_CAP {
        if s.yu.len() < n * kp {
            s.yu.resize(n * kp, 0.0);
        }
        let row = |j: u32| &h.other[j as usize * kp..(j as usize + 1) * kp];
        for (t, &j) in idx.iter().enumerate() {
            // The rows are scattered over a large matrix: ask for the ones a few
            // steps ahead so their cache misses overlap.
            if let Some(&ahead) = idx.get(t + PREFETCH_ROWS) {
                simd.prefetch(row(ahead));
            }
            s.yu[t * kp..(t + 1) * kp].copy_from_slice(row(j));
        }
        let Scratch {
            cm1,
            cp,
            r,
            d,
            ad,
            yu,
            ..
        } = s;
        let rows = Gathered {
            buf: &yu[..n * kp],
            kp,
        };
        cg_steps(h, &rows, cm1, cp, x, r, d, ad, simd)
    } else {
        let rows = Indexed {
            other: h.other,
            idx,
            kp,
            scattered: big,
        };
        cg_steps(
            h, &rows, &s.cm1, &s.cp, x, &mut s.r, &mut s.d, &mut s.ad, simd,
        )
    }
}

/// The CG iterations of [`solve_cg`] over the row's factor rows `rows`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cg_steps<S: Simd, R: RowSource>(
    h: &Half<'_>,
    rows: &R,
    cm1: &[f32],
    cp: &[f32],
    x: &mut [f32],
    r: &mut [f32],
    d: &mut [f32],
    ad: &mut [f32],
    simd: S,
) -> Result<(), String> {
    let kp = h.kp;
    let lambda = row_lambda(h.p, cm1.len());
    // r = b − A·x, in one pass over the row's nonzeros.
    simd.symv(h.gram, kp, kp, x, r);
    for v in r.iter_mut() {
        *v = -*v;
    }
    simd.axpy(-lambda, x, r);
    nonzero_pass(rows, cm1, Some(cp), x, r, simd);
    d.copy_from_slice(r);
    let mut rs_old = simd.dot(r, r);
    if rs_old < 1e-20 {
        return Ok(());
    }
    for _ in 0..h.p.cg_steps {
        apply_a(h, rows, cm1, lambda, d, ad, simd);
        let dad = simd.dot(d, ad);
        if !(dad > 0.0) || !dad.is_finite() {
            return Err(format!(
                "conjugate gradient met a non-positive curvature dᵀAd = {dad:e} (the system is singular)"
            ));
        }
        let step = rs_old / dad;
        simd.axpy(step, d, x);
        simd.axpy(-step, ad, r);
        let rs_new = simd.dot(r, r);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        for (dv, rv) in d.iter_mut().zip(r.iter()) {
            *dv = beta.mul_add(*dv, *rv);
        }
        rs_old = rs_new;
    }
    Ok(())
}

/// The objective Σ_ui c_ui (p_ui − x_u·y_i)² + Σ_u λ_u |x_u|² + Σ_i λ_i |y_i|²,
/// using Σ_i (x_u·y_i)² = x_uᵀ·(YᵀY)·x_u for the unobserved pairs. Summed in f64
/// over fixed chunks in order.
pub(crate) fn objective(
    m: &InteractionMatrix,
    p: &AlsParams,
    x: &[f32],
    y: &[f32],
    gy: &[f32],
    kp: usize,
) -> f64 {
    let users: Vec<f64> = x
        .par_chunks(ROWS_PER_TASK * kp)
        .enumerate()
        .map(|(t, chunk)| {
            let mut gx = vec![0f32; kp];
            let mut total = 0f64;
            for (i, xu) in chunk.chunks_exact(kp).enumerate() {
                let u = t * ROWS_PER_TASK + i;
                let (idx, val) = m.by_user.row(u);
                Portable.symv(gy, kp, kp, xu, &mut gx);
                let mut row = dot(xu, &gx) as f64;
                for (&j, &r) in idx.iter().zip(val) {
                    let (c, pref) = confidence(p, r);
                    let sc = dot(xu, &y[j as usize * kp..(j as usize + 1) * kp]) as f64;
                    let (c, pref) = (c as f64, pref as f64);
                    row += c * (pref - sc) * (pref - sc) - sc * sc;
                }
                row += row_lambda(p, idx.len()) as f64 * dot(xu, xu) as f64;
                total += row;
            }
            total
        })
        .collect();
    let items: Vec<f64> = y
        .par_chunks(ROWS_PER_TASK * kp)
        .enumerate()
        .map(|(t, chunk)| {
            chunk
                .chunks_exact(kp)
                .enumerate()
                .map(|(i, yi)| {
                    let n = m.by_item.row(t * ROWS_PER_TASK + i).0.len();
                    row_lambda(p, n) as f64 * dot(yi, yi) as f64
                })
                .sum::<f64>()
        })
        .collect();
    users.iter().sum::<f64>() + items.iter().sum::<f64>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A one-row problem: the row's (index, value) pairs against `n_other` factor rows.
    #[derive(Debug)]
    struct Problem {
        rows: Compressed,
        other: Vec<f32>,
        k: usize,
        kp: usize,
    }

    fn problem(k: usize, other: Vec<f32>, entries: Vec<(u32, f32)>) -> Problem {
        let kp = padded(k);
        let n_other = other.len() / k;
        let mut padded_other = vec![0f32; n_other * kp];
        for i in 0..n_other {
            padded_other[i * kp..i * kp + k].copy_from_slice(&other[i * k..(i + 1) * k]);
        }
        let rows = Compressed {
            indptr: vec![0, entries.len()],
            indices: entries.iter().map(|e| e.0).collect(),
            values: entries.iter().map(|e| e.1).collect(),
        };
        Problem {
            rows,
            other: padded_other,
            k,
            kp,
        }
    }

    /// Solve the problem's single row with `p`, starting from `x0`.
    fn solve(pr: &Problem, p: &AlsParams, x0: &[f32]) -> Result<Vec<f32>, AlsError> {
        let g = gram(&pr.other, pr.kp);
        let mut x = vec![0f32; pr.kp];
        x[..pr.k].copy_from_slice(x0);
        let h = Half {
            side: "user",
            rows: &pr.rows,
            other: &pr.other,
            gram: &g,
            k: pr.k,
            kp: pr.kp,
            p,
        };
        solve_half(&h, &mut x)?;
        assert!(
            x[pr.k..].iter().all(|v| *v == 0.0),
            "padding must stay zero"
        );
        x.truncate(pr.k);
        Ok(x)
    }

    /// The slow, obvious reference: dense A = Σ_all c·y·yᵀ + λI and b = Σ c·p·y in f64.
    fn dense_normal_equations(pr: &Problem, p: &AlsParams) -> (Vec<f64>, Vec<f64>) {
        let (k, kp) = (pr.k, pr.kp);
        let n_other = pr.other.len() / kp;
        let mut a = vec![0f64; k * k];
        let mut b = vec![0f64; k];
        for i in 0..n_other {
            let y = &pr.other[i * kp..i * kp + k];
            let (mut c, mut pref) = (1f64, 0f64);
            if let Some(t) = pr.rows.indices.iter().position(|&j| j as usize == i) {
                let (cc, pp) = confidence(p, pr.rows.values[t]);
                c = cc as f64;
                pref = pp as f64;
            }
            for r in 0..k {
                b[r] += c * pref * y[r] as f64;
                for s in 0..k {
                    a[r * k + s] += c * y[r] as f64 * y[s] as f64;
                }
            }
        }
        let lambda = row_lambda(p, pr.rows.indices.len()) as f64;
        for r in 0..k {
            a[r * k + r] += lambda;
        }
        (a, b)
    }

    /// Gaussian elimination with partial pivoting.
    fn dense_solve(mut a: Vec<f64>, mut b: Vec<f64>) -> Vec<f64> {
        let n = b.len();
        for c in 0..n {
            let piv = (c..n)
                .max_by(|&i, &j| a[i * n + c].abs().total_cmp(&a[j * n + c].abs()))
                .unwrap();
            for j in 0..n {
                a.swap(c * n + j, piv * n + j);
            }
            b.swap(c, piv);
            for r in c + 1..n {
                let f = a[r * n + c] / a[c * n + c];
                for j in c..n {
                    a[r * n + j] -= f * a[c * n + j];
                }
                b[r] -= f * b[c];
            }
        }
        let mut x = vec![0f64; n];
        for r in (0..n).rev() {
            let s: f64 = (r + 1..n).map(|j| a[r * n + j] * x[j]).sum();
            x[r] = (b[r] - s) / a[r * n + r];
        }
        x
    }

    fn close(got: &[f32], want: &[f64], tol: f64) -> Result<(), TestCaseError> {
        let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
        for (g, w) in got.iter().zip(want) {
            prop_assert!(
                (*g as f64 - w).abs() <= tol * scale,
                "got {got:?}, want {want:?}"
            );
        }
        Ok(())
    }

    fn arb_problem() -> impl Strategy<Value = (Problem, AlsParams)> {
        (
            1usize..12,
            3usize..25,
            any::<u64>(),
            0.05f32..2.0,
            0.0f32..50.0,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_flat_map(|(k, n_other, seed, reg, alpha, log, per)| {
                let entries = proptest::collection::btree_map(
                    0..n_other as u32,
                    0.1f32..5.0,
                    1..n_other.min(12),
                );
                let other = proptest::collection::vec(-1.0f32..1.0, n_other * k);
                (entries, other).prop_map(move |(entries, other)| {
                    let p = AlsParams {
                        rank: k,
                        reg_param: reg,
                        alpha,
                        confidence: if log {
                            Confidence::Log
                        } else {
                            Confidence::Linear
                        },
                        reg_scaling: if per {
                            RegScaling::PerInteraction
                        } else {
                            RegScaling::Plain
                        },
                        seed,
                        threads: 1,
                        ..AlsParams::default()
                    };
                    (problem(k, other, entries.into_iter().collect()), p)
                })
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn cholesky_row_solve_matches_dense_reference((pr, p) in arb_problem()) {
            let p = AlsParams { solver: Solver::Cholesky, ..p };
            let (a, b) = dense_normal_equations(&pr, &p);
            let want = dense_solve(a, b);
            close(&solve(&pr, &p, &vec![0.0; pr.k]).unwrap(), &want, 2e-3)?;
        }

        #[test]
        fn cg_with_many_steps_reaches_the_cholesky_solution((pr, p) in arb_problem()) {
            let exact = solve(&pr, &AlsParams { solver: Solver::Cholesky, ..p.clone() }, &vec![0.0; pr.k]).unwrap();
            let x0: Vec<f32> = (0..pr.k).map(|i| 0.01 * (i as f32 + 1.0)).collect();
            let cg = solve(&pr, &AlsParams { solver: Solver::Cg, cg_steps: 4 * pr.k + 10, ..p }, &x0).unwrap();
            let exact: Vec<f64> = exact.iter().map(|v| *v as f64).collect();
            close(&cg, &exact, 5e-3)?;
        }

        #[test]
        fn nnls_is_nonnegative_and_satisfies_kkt((pr, p) in arb_problem()) {
            let p = AlsParams { nonnegative: true, ..p };
            let x = solve(&pr, &p, &vec![0.0; pr.k]).unwrap();
            let (a, b) = dense_normal_equations(&pr, &p);
            let k = pr.k;
            let scale = a.iter().chain(&b).fold(1f64, |m, v| m.max(v.abs()));
            for j in 0..k {
                prop_assert!(x[j] >= 0.0, "x = {x:?}");
                let g: f64 = (0..k).map(|l| a[j * k + l] * x[l] as f64).sum::<f64>() - b[j];
                if x[j] > 0.0 {
                    prop_assert!(g.abs() <= 1e-4 * scale, "active x[{j}] = {} but gradient {g}", x[j]);
                } else {
                    prop_assert!(g >= -1e-4 * scale, "x[{j}] = 0 but gradient {g} < 0 (could decrease)");
                }
            }
        }
    }

    /// The AVX2 and portable instantiations of the CG row solves give the same
    /// bits (so a model does not depend on the machine's vector unit).
    #[test]
    fn cg_solves_are_identical_with_avx2_and_portable_kernels() {
        #[cfg(target_arch = "x86_64")]
        if let Some(avx) = kernels::Avx2::detect() {
            let mut rng = Xoshiro256::new(7, 0);
            for k in [5, 16, 37] {
                let kp = padded(k);
                let (n_rows, n_other) = (40, 60);
                let mut other = vec![0f32; n_other * kp];
                for r in 0..n_other {
                    for j in 0..k {
                        other[r * kp + j] = rng.next_f32() - 0.5;
                    }
                }
                let mut indptr = vec![0];
                let (mut indices, mut values) = (Vec::new(), Vec::new());
                for r in 0..n_rows {
                    // Row lengths 0..=39 exercise the 8-, 4- and 1-at-a-time loops.
                    for j in 0..r.min(n_other) {
                        if rng.next_f32() < 0.7 {
                            indices.push(j as u32);
                            values.push(1.0 + 5.0 * rng.next_f32());
                        }
                    }
                    indptr.push(indices.len());
                }
                let rows = Compressed {
                    indptr,
                    indices,
                    values,
                };
                let g = gram(&other, kp);
                let p = AlsParams {
                    rank: k,
                    threads: 1,
                    ..AlsParams::default()
                };
                let h = Half {
                    side: "user",
                    rows: &rows,
                    other: &other,
                    gram: &g,
                    k,
                    kp,
                    p: &p,
                };
                let x0: Vec<f32> = (0..n_rows * kp)
                    .map(|i| {
                        if i % kp < k {
                            0.01 * rng.next_f32()
                        } else {
                            0.0
                        }
                    })
                    .collect();
                let (mut a, mut b) = (x0.clone(), x0);
                solve_rows_impl(&h, 0, &mut a, Portable).unwrap();
                // SAFETY: `avx` proves the CPU has the features.
                unsafe { solve_rows_avx2(&h, 0, &mut b, avx) }.unwrap();
                assert!(a.iter().any(|v| *v != 0.0));
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "rank {k}");
            }
        }
    }

    #[test]
    fn singular_system_is_an_error_naming_the_row_not_nan() {
        // rank 4 against 2 item vectors with λ = 0: A has rank ≤ 2.
        let pr = problem(
            4,
            vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0],
            vec![(0, 1.0)],
        );
        for solver in [Solver::Cholesky, Solver::Cg] {
            let p = AlsParams {
                rank: 4,
                reg_param: 0.0,
                solver,
                cg_steps: 20,
                threads: 1,
                ..AlsParams::default()
            };
            let x0 = [0.5, 0.5, 0.5, 0.5];
            match solve(&pr, &p, &x0) {
                Err(e @ AlsError::Numerical { row: 0, .. }) => {
                    assert!(
                        e.to_string().contains("user 0") && e.to_string().contains("reg_param"),
                        "{e}"
                    )
                }
                other => assert!(
                    solver == Solver::Cg
                        && other
                            .as_ref()
                            .is_ok_and(|x| x.iter().all(|v| v.is_finite())),
                    "{solver:?}: {other:?}"
                ),
            }
        }
    }
}
