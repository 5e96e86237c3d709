//! Checked strided views of (batch, head, row, feature) arrays whose feature axis is contiguous:
//! what the attention kernels read and write.
//!
//! A view is built from a slice and a layout (checked against the slice's length) or from an
//! `ndarray` view (what the Python bindings get from NumPy, whatever its strides), so a caller
//! never computes strides or offsets: a (B, T, H d) projection read as (B, H, T, d) heads, the
//! columns of a packed q|k|v buffer, a transposed (T, B, E) tensor and a broadcast mask (zero
//! strides) all arrive as views. Rows are handed out as slices; the packed kernels take the
//! first row of a head and the row stride. Mutable views also check that distinct rows never
//! overlap, so threads may write different rows at once.

use std::marker::PhantomData;

use ndarray::{ArrayView4, ArrayViewMut4};

use crate::error::{Error, Result};

/// Element strides of (batch, head, row); the feature axis has stride 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub sb: usize,
    pub sh: usize,
    pub st: usize,
}

impl Layout {
    /// A C-contiguous (B, H, T, f) array.
    pub fn contiguous(h: usize, t: usize, f: usize) -> Layout {
        Layout { sb: h * t * f, sh: t * f, st: f }
    }
    /// Offset of row 0 of head (b, h).
    pub fn at(&self, b: usize, h: usize) -> usize {
        b * self.sb + h * self.sh
    }
    /// One past the largest offset a (B, H, T, F) array with this layout uses (0 when empty).
    fn span(&self, shape: [usize; 4]) -> usize {
        let [b, h, t, f] = shape;
        if b == 0 || h == 0 || t == 0 || f == 0 {
            return 0;
        }
        (b - 1) * self.sb + (h - 1) * self.sh + (t - 1) * self.st + f
    }
    /// Whether distinct rows of a (B, H, T, F) array share no element: ordered by stride, each
    /// axis must step past everything the smaller ones cover (axes of length <= 1 do not count).
    fn rows_disjoint(&self, shape: [usize; 4]) -> bool {
        let [b, h, t, f] = shape;
        let mut axes: Vec<(usize, usize)> = [(self.sb, b), (self.sh, h), (self.st, t)].into_iter().filter(|&(_, n)| n > 1).collect();
        axes.sort_unstable();
        let mut covered = f; // elements one row spans
        for (s, n) in axes {
            if s < covered {
                return false;
            }
            covered += s * (n - 1);
        }
        true
    }
}

fn name_shape(what: &str, shape: [usize; 4]) -> String {
    format!("{what} of shape {shape:?}")
}

/// A shared (B, H, T, F) view whose rows are contiguous.
#[derive(Clone, Copy)]
pub struct View4<'a, T> {
    ptr: *const T,
    shape: [usize; 4],
    l: Layout,
    _borrow: PhantomData<&'a [T]>,
}

// SAFETY: a View4 is a shared borrow of T values (like `&'a [T]`): it only reads, so it may be
// sent to and shared between threads whenever `&T` may.
unsafe impl<T: Sync> Send for View4<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for View4<'_, T> {}

/// (shape, layout) of an ndarray view as a [`Layout`], or None when a stride is negative or the
/// feature axis is not contiguous. Strides of axes of length <= 1 do not matter and become 0.
fn nd_layout(dim: (usize, usize, usize, usize), strides: &[isize]) -> Option<([usize; 4], Layout)> {
    let shape = [dim.0, dim.1, dim.2, dim.3];
    let mut st = [0usize; 4];
    for i in 0..4 {
        if shape[i] > 1 {
            st[i] = usize::try_from(strides[i]).ok()?;
        }
    }
    if shape[3] > 1 && st[3] != 1 {
        return None;
    }
    Some((shape, Layout { sb: st[0], sh: st[1], st: st[2] }))
}

impl<'a, T> View4<'a, T> {
    /// `data` read as a (B, H, T, F) array with layout `l`; an error names `what` when the
    /// layout reaches past the end of `data`.
    pub fn new(what: &str, data: &'a [T], shape: [usize; 4], l: Layout) -> Result<Self> {
        let need = l.span(shape);
        if need > data.len() {
            return Err(Error::Shape(format!("{} needs {need} elements for its layout, has {}", name_shape(what, shape), data.len())));
        }
        Ok(View4 { ptr: data.as_ptr(), shape, l, _borrow: PhantomData })
    }

    /// `data` as a C-contiguous (B, H, T, F) array.
    pub fn contiguous(what: &str, data: &'a [T], shape: [usize; 4]) -> Result<Self> {
        Self::new(what, data, shape, Layout::contiguous(shape[1], shape[2], shape[3]))
    }

    /// An ndarray view as it is, or None when a stride is negative or the feature axis is not
    /// contiguous (copy it to standard layout first).
    pub fn from_ndarray(v: ArrayView4<'a, T>) -> Option<Self> {
        let (shape, l) = nd_layout(v.dim(), v.strides())?;
        Some(View4 { ptr: v.as_ptr(), shape, l, _borrow: PhantomData })
    }

    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    pub fn layout(&self) -> Layout {
        self.l
    }

    /// The F features of row (b, h, t).
    #[inline]
    pub fn row(&self, b: usize, h: usize, t: usize) -> &'a [T] {
        let [nb, nh, nt, f] = self.shape;
        assert!(b < nb && h < nh && t < nt, "row ({b}, {h}, {t}) outside {:?}", self.shape);
        // SAFETY: (b, h, t) is in bounds (asserted), and every constructor guarantees that the F
        // elements of each in-bounds row lie inside the borrowed data (`new` by the span check,
        // `from_ndarray` because ndarray's view covers exactly those elements, with stride 1 on
        // the feature axis). The borrow lasts 'a.
        unsafe { std::slice::from_raw_parts(self.ptr.add(self.l.at(b, h) + t * self.l.st), f) }
    }

    /// Pointer to row 0 of head (b, h), for kernels that read T rows of F at the row stride
    /// (`layout().st`). Valid for reads of the head's rows while the view's borrow lasts.
    #[inline]
    pub fn head_ptr(&self, b: usize, h: usize) -> *const T {
        self.ptr.wrapping_add(self.l.at(b, h))
    }
}

/// An exclusive (B, H, T, F) view whose rows are contiguous and pairwise disjoint.
pub struct ViewMut4<'a, T> {
    ptr: *mut T,
    shape: [usize; 4],
    l: Layout,
    _borrow: PhantomData<&'a mut [T]>,
}

// SAFETY: a ViewMut4 is an exclusive borrow (like `&'a mut [T]`), so it may move to another
// thread when T may.
unsafe impl<T: Send> Send for ViewMut4<'_, T> {}
// SAFETY: through `&ViewMut4` nothing is read or written: it only hands out raw row pointers
// (`head_ptr`), and writing through them is unsafe, with the caller keeping threads on
// disjoint rows (which the constructors made possible by rejecting overlapping layouts).
unsafe impl<T: Send> Sync for ViewMut4<'_, T> {}

impl<'a, T> ViewMut4<'a, T> {
    /// `data` written as a (B, H, T, F) array with layout `l`.
    pub fn new(what: &str, data: &'a mut [T], shape: [usize; 4], l: Layout) -> Result<Self> {
        let need = l.span(shape);
        if need > data.len() {
            return Err(Error::Shape(format!("{} needs {need} elements for its layout, has {}", name_shape(what, shape), data.len())));
        }
        if !l.rows_disjoint(shape) {
            return Err(Error::Shape(format!("{} has overlapping rows (strides {l:?})", name_shape(what, shape))));
        }
        Ok(ViewMut4 { ptr: data.as_mut_ptr(), shape, l, _borrow: PhantomData })
    }

    /// `data` as a C-contiguous (B, H, T, F) array.
    pub fn contiguous(what: &str, data: &'a mut [T], shape: [usize; 4]) -> Result<Self> {
        Self::new(what, data, shape, Layout::contiguous(shape[1], shape[2], shape[3]))
    }

    /// A writable ndarray view, or an error naming `what` when a stride is negative, the feature
    /// axis is not contiguous or rows overlap.
    pub fn from_ndarray(what: &str, v: ArrayViewMut4<'a, T>) -> Result<Self> {
        let Some((shape, l)) = nd_layout(v.dim(), v.strides()) else {
            return Err(Error::Shape(format!(
                "{} must have a contiguous last axis and no negative strides (strides {:?})",
                name_shape(what, [v.dim().0, v.dim().1, v.dim().2, v.dim().3]),
                v.strides()
            )));
        };
        if !l.rows_disjoint(shape) {
            return Err(Error::Shape(format!("{} has overlapping rows (strides {l:?})", name_shape(what, shape))));
        }
        let mut v = v;
        Ok(ViewMut4 { ptr: v.as_mut_ptr(), shape, l, _borrow: PhantomData })
    }

    pub fn shape(&self) -> [usize; 4] {
        self.shape
    }

    pub fn layout(&self) -> Layout {
        self.l
    }

    /// The F features of row (b, h, t), to write.
    #[inline]
    pub fn row_mut(&mut self, b: usize, h: usize, t: usize) -> &mut [T] {
        let [nb, nh, nt, f] = self.shape;
        assert!(b < nb && h < nh && t < nt, "row ({b}, {h}, {t}) outside {:?}", self.shape);
        // SAFETY: in bounds (asserted) and inside the borrowed data (the constructors' checks);
        // `&mut self` makes this the only live reference into the view.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(self.l.at(b, h) + t * self.l.st), f) }
    }

    /// Pointer to row 0 of head (b, h), for kernels that write T rows of F at the row stride.
    /// Valid for writes of the head's rows while the view's borrow lasts; rows are disjoint, so
    /// threads writing different rows do not race.
    #[inline]
    pub fn head_ptr(&self, b: usize, h: usize) -> *mut T {
        self.ptr.wrapping_add(self.l.at(b, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array3, Array4, Axis};

    #[test]
    fn slice_views_check_their_span() {
        let data = vec![0.0f32; 2 * 3 * 4 * 5];
        assert!(View4::contiguous("q", &data, [2, 3, 4, 5]).is_ok());
        let e = View4::contiguous("q", &data[1..], [2, 3, 4, 5]).err().unwrap().to_string();
        assert!(e.contains("q of shape [2, 3, 4, 5] needs 120 elements"), "{e}");
        assert!(View4::<f32>::contiguous("q", &[], [0, 3, 4, 5]).is_ok());
    }

    #[test]
    fn heads_of_a_projection_are_read_in_place() {
        // (B, T, H d) read as (B, H, T, d): NumPy's reshape + transpose, here ndarray's.
        let (b, t, h, d) = (2, 3, 4, 5);
        let x = Array3::from_shape_fn((b, t, h * d), |(i, j, k)| (i * 1000 + j * 100 + k) as f64);
        let v4 = x.view().into_shape_with_order((b, t, h, d)).unwrap().permuted_axes([0, 2, 1, 3]);
        let v = View4::from_ndarray(v4.view()).unwrap();
        assert_eq!(v.layout(), Layout { sb: t * h * d, sh: d, st: h * d });
        for (bi, hi, ti) in [(0, 0, 0), (1, 3, 2), (1, 2, 0)] {
            let want: Vec<f64> = (0..d).map(|f| x[[bi, ti, hi * d + f]]).collect();
            assert_eq!(v.row(bi, hi, ti), &want[..]);
        }
    }

    #[test]
    fn unsupported_strides_are_refused() {
        let x = Array4::<f64>::zeros((2, 3, 4, 5));
        assert!(View4::from_ndarray(x.view().reversed_axes()).is_none()); // feature axis strided
        let mut flipped = x.view();
        flipped.invert_axis(Axis(2));
        assert!(View4::from_ndarray(flipped).is_none()); // negative stride
        let one = x.slice(ndarray::s![.., .., .., 0..1]);
        assert!(View4::from_ndarray(one).is_some()); // a single feature: any stride
    }

    #[test]
    fn mutable_views_reject_overlapping_rows() {
        let mut data = vec![0.0f64; 100];
        assert!(ViewMut4::new("out", &mut data, [1, 2, 3, 4], Layout { sb: 0, sh: 12, st: 4 }).is_ok());
        let e = ViewMut4::new("out", &mut data, [1, 2, 3, 4], Layout { sb: 0, sh: 4, st: 4 }).err().unwrap().to_string();
        assert!(e.contains("overlapping rows"), "{e}");
        assert!(ViewMut4::new("out", &mut data, [1, 2, 3, 4], Layout { sb: 0, sh: 4, st: 8 }).is_ok()); // interleaved heads
        assert!(ViewMut4::new("out", &mut data, [1, 1, 3, 4], Layout { sb: 0, sh: 0, st: 3 }).is_err());
        let mut a = Array4::<f64>::zeros((2, 3, 4, 5));
        let mut w = ViewMut4::from_ndarray("out", a.view_mut().permuted_axes([0, 2, 1, 3])).unwrap();
        w.row_mut(1, 3, 2)[4] = 7.0;
        assert_eq!(a[[1, 2, 3, 4]], 7.0);
    }
}
