//! Dense and product-quantized matrices (fastText's densematrix.cc,
//! quantmatrix.cc, productquantizer.cc).

use crate::io::{Dst, Src};
use crate::Error;

/// Centroids per sub-quantizer (fastText's `ksub_`, 2^8).
const KSUB: usize = 256;

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Dense {
    pub(crate) m: usize,
    pub(crate) n: usize,
    pub(crate) data: Vec<f32>,
}

impl Dense {
    pub(crate) fn zeros(m: usize, n: usize) -> Dense {
        Dense { m, n, data: vec![0.0; m * n] }
    }

    #[inline]
    pub(crate) fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.n..(i + 1) * self.n]
    }

    #[inline]
    pub(crate) fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.n..(i + 1) * self.n]
    }

    fn read(src: &mut Src, what: &'static str) -> Result<Dense, Error> {
        let m = src.i64(what)?;
        let n = src.i64(what)?;
        if m < 0 || n < 0 {
            return Err(src.format(format!("{what} has negative shape {m} x {n}")));
        }
        let count = (m as u64).checked_mul(n as u64).ok_or_else(|| src.format(format!("{what} shape {m} x {n} overflows")))?;
        let data = src.f32s(count, what)?;
        Ok(Dense { m: m as usize, n: n as usize, data })
    }

    fn write(&self, d: &mut Dst) -> Result<(), Error> {
        d.i64(self.m as i64)?;
        d.i64(self.n as i64)?;
        d.f32s(&self.data)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ProductQuantizer {
    dim: i32,
    nsubq: i32,
    dsub: i32,
    lastdsub: i32,
    centroids: Vec<f32>,
}

impl ProductQuantizer {
    fn read(src: &mut Src) -> Result<ProductQuantizer, Error> {
        let dim = src.i32("product quantizer dim")?;
        let nsubq = src.i32("product quantizer nsubq")?;
        let dsub = src.i32("product quantizer dsub")?;
        let lastdsub = src.i32("product quantizer lastdsub")?;
        if dim < 1
            || nsubq < 1
            || dsub < 1
            || lastdsub < 1
            || lastdsub > dsub
            || (nsubq as i64 - 1) * dsub as i64 + lastdsub as i64 != dim as i64
        {
            return Err(
                src.format(format!("product quantizer shape is inconsistent: dim {dim}, nsubq {nsubq}, dsub {dsub}, lastdsub {lastdsub}"))
            );
        }
        let centroids = src.f32s(dim as u64 * KSUB as u64, "product quantizer centroids")?;
        Ok(ProductQuantizer { dim, nsubq, dsub, lastdsub, centroids })
    }

    fn write(&self, d: &mut Dst) -> Result<(), Error> {
        d.i32(self.dim)?;
        d.i32(self.nsubq)?;
        d.i32(self.dsub)?;
        d.i32(self.lastdsub)?;
        d.f32s(&self.centroids)
    }

    /// Centroid `i` of sub-quantizer `m` (fastText's `get_centroids`).
    #[inline]
    fn centroid(&self, m: usize, i: u8) -> &[f32] {
        let (dsub, last) = (self.dsub as usize, self.lastdsub as usize);
        if m == self.nsubq as usize - 1 {
            let s = m * KSUB * dsub + i as usize * last;
            &self.centroids[s..s + last]
        } else {
            let s = (m * KSUB + i as usize) * dsub;
            &self.centroids[s..s + dsub]
        }
    }

    /// x += alpha * decode(codes of row t) (fastText's `addcode`).
    fn addcode(&self, x: &mut [f32], codes: &[u8], t: usize, alpha: f32) {
        let nsubq = self.nsubq as usize;
        let code = &codes[nsubq * t..nsubq * (t + 1)];
        let dsub = self.dsub as usize;
        for (m, &c) in code.iter().enumerate() {
            let cent = self.centroid(m, c);
            for (xv, cv) in x[m * dsub..].iter_mut().zip(cent) {
                *xv += alpha * cv;
            }
        }
    }

    /// alpha * <x, decode(row t)> (fastText's `mulcode`).
    fn mulcode(&self, x: &[f32], codes: &[u8], t: usize, alpha: f32) -> f32 {
        let nsubq = self.nsubq as usize;
        let code = &codes[nsubq * t..nsubq * (t + 1)];
        let dsub = self.dsub as usize;
        let mut res = 0.0f32;
        for (m, &c) in code.iter().enumerate() {
            let cent = self.centroid(m, c);
            for (xv, cv) in x[m * dsub..].iter().zip(cent) {
                res += xv * cv;
            }
        }
        res * alpha
    }
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Quant {
    qnorm: bool,
    m: usize,
    n: usize,
    codesize: i32,
    codes: Vec<u8>,
    pq: ProductQuantizer,
    norm_codes: Vec<u8>,
    npq: Option<ProductQuantizer>,
}

impl Quant {
    #[cfg(test)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn for_test(
        m: usize,
        n: usize,
        codes: Vec<u8>,
        nsubq: i32,
        dsub: i32,
        lastdsub: i32,
        centroids: Vec<f32>,
        norm: Option<(Vec<u8>, Vec<f32>)>,
    ) -> Quant {
        let pq = ProductQuantizer { dim: n as i32, nsubq, dsub, lastdsub, centroids };
        let (qnorm, norm_codes, npq) = match norm {
            Some((c, cent)) => (true, c, Some(ProductQuantizer { dim: 1, nsubq: 1, dsub: 1, lastdsub: 1, centroids: cent })),
            None => (false, Vec::new(), None),
        };
        Quant { qnorm, m, n, codesize: (m * nsubq as usize) as i32, codes, pq, norm_codes, npq }
    }

    fn read(src: &mut Src) -> Result<Quant, Error> {
        let qnorm = src.bool("quantized matrix qnorm")?;
        let m = src.i64("quantized matrix rows")?;
        let n = src.i64("quantized matrix cols")?;
        let codesize = src.i32("quantized matrix codesize")?;
        if m < 0 || !(1..=1 << 16).contains(&n) || codesize < 0 {
            return Err(src.format(format!("quantized matrix shape is invalid: {m} x {n}, codesize {codesize}")));
        }
        let codes = src.bytes(codesize as u64, "quantized matrix codes")?;
        let pq = ProductQuantizer::read(src)?;
        if pq.dim as i64 != n || (m as u64).checked_mul(pq.nsubq as u64) != Some(codesize as u64) {
            return Err(src.format(format!(
                "quantized matrix {m} x {n} with codesize {codesize} does not fit its quantizer (dim {}, nsubq {})",
                pq.dim, pq.nsubq
            )));
        }
        let (norm_codes, npq) = if qnorm {
            let nc = src.bytes(m as u64, "quantized matrix norm codes")?;
            let npq = ProductQuantizer::read(src)?;
            if npq.dim != 1 {
                return Err(src.format(format!("norm quantizer has dim {}, not 1", npq.dim)));
            }
            (nc, Some(npq))
        } else {
            (Vec::new(), None)
        };
        Ok(Quant { qnorm, m: m as usize, n: n as usize, codesize, codes, pq, norm_codes, npq })
    }

    fn write(&self, d: &mut Dst) -> Result<(), Error> {
        d.u8(self.qnorm as u8)?;
        d.i64(self.m as i64)?;
        d.i64(self.n as i64)?;
        d.i32(self.codesize)?;
        d.raw(&self.codes)?;
        self.pq.write(d)?;
        if let Some(npq) = &self.npq {
            d.raw(&self.norm_codes)?;
            npq.write(d)?;
        }
        Ok(())
    }

    #[inline]
    fn norm(&self, i: usize) -> f32 {
        match &self.npq {
            Some(npq) => npq.centroid(0, self.norm_codes[i])[0],
            None => 1.0,
        }
    }
}

/// An input or output matrix.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Matrix {
    Dense(Dense),
    Quant(Quant),
}

impl Matrix {
    pub(crate) fn read(src: &mut Src, quant: bool, what: &'static str) -> Result<Matrix, Error> {
        Ok(if quant { Matrix::Quant(Quant::read(src)?) } else { Matrix::Dense(Dense::read(src, what)?) })
    }

    pub(crate) fn write(&self, d: &mut Dst) -> Result<(), Error> {
        match self {
            Matrix::Dense(m) => m.write(d),
            Matrix::Quant(q) => q.write(d),
        }
    }

    pub(crate) fn rows(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.m,
            Matrix::Quant(q) => q.m,
        }
    }

    pub(crate) fn cols(&self) -> usize {
        match self {
            Matrix::Dense(m) => m.n,
            Matrix::Quant(q) => q.n,
        }
    }

    pub(crate) fn is_quant(&self) -> bool {
        matches!(self, Matrix::Quant(_))
    }

    /// Hints the CPU to fetch row i (dense rows of a large matrix are cache misses).
    #[inline]
    pub(crate) fn prefetch_row(&self, i: usize) {
        #[cfg(target_arch = "x86_64")]
        if let Matrix::Dense(m) = self {
            if let Some(r) = m.data.get(i * m.n..(i + 1) * m.n) {
                for c in r.chunks(16) {
                    // SAFETY: prefetching a valid address has no effect on memory.
                    unsafe { std::arch::x86_64::_mm_prefetch(c.as_ptr() as *const i8, std::arch::x86_64::_MM_HINT_T0) };
                }
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = i;
    }

    /// x += row i.
    #[inline]
    pub(crate) fn add_row_to(&self, x: &mut [f32], i: usize) {
        match self {
            Matrix::Dense(m) => add_assign(x, m.row(i)),
            Matrix::Quant(q) => q.pq.addcode(x, &q.codes, i, q.norm(i)),
        }
    }

    /// <x, row i>, accumulated in order as fastText does.
    #[inline]
    pub(crate) fn dot_row(&self, x: &[f32], i: usize) -> f32 {
        match self {
            Matrix::Dense(m) => dot_seq(m.row(i), x),
            Matrix::Quant(q) => q.pq.mulcode(x, &q.codes, i, q.norm(i)),
        }
    }
}

#[inline]
pub(crate) fn add_assign(x: &mut [f32], r: &[f32]) {
    for (a, b) in x.iter_mut().zip(r) {
        *a += *b;
    }
}

/// x += alpha * r
#[inline]
pub(crate) fn axpy(x: &mut [f32], alpha: f32, r: &[f32]) {
    for (a, b) in x.iter_mut().zip(r) {
        *a += alpha * *b;
    }
}

/// Sequential dot product: the order fastText's `DenseMatrix::dotRow` uses.
#[inline]
pub(crate) fn dot_seq(a: &[f32], b: &[f32]) -> f32 {
    let mut d = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        d += x * y;
    }
    d
}

/// Dot product with 8 partial sums (vectorises); a fixed order, so deterministic.
#[inline]
pub(crate) fn dot8(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}
