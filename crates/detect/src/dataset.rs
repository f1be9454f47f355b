//! Labelled training data in memory, and the reproducible splits training and evaluation use.
//! Readers (CSV, Parquet) live in the store crate; this is the shape they fill.

use sha2::{Digest, Sha256};

/// Rows of features with a class label each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Feature names, in column order (canonical names from the feature table).
    pub features: Vec<String>,
    /// Row-major values: row `r` is `x[r * features.len()..][..features.len()]`.
    pub x: Vec<f64>,
    /// Class index of each row (into [`Dataset::classes`]).
    pub y: Vec<u32>,
    /// Class names, in first-seen order.
    pub classes: Vec<String>,
    /// Flow start per row (UTC µs), when the data had a parseable `Timestamp`.
    pub time: Vec<Option<i64>>,
    /// A stable key per row for the split (SHA-256 of the `id` column, or of file and row).
    pub key: Vec<[u8; 32]>,
}

impl Dataset {
    /// An empty dataset over these features.
    pub fn new(features: Vec<String>) -> Self {
        Dataset {
            features,
            ..Default::default()
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.y.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.y.is_empty()
    }

    /// Row `r`'s features.
    pub fn row(&self, r: usize) -> &[f64] {
        let n = self.features.len();
        &self.x[r * n..(r + 1) * n]
    }

    /// The index of a class name, added when new.
    pub fn class_index(&mut self, name: &str) -> u32 {
        match self.classes.iter().position(|c| c == name) {
            Some(i) => i as u32,
            None => {
                self.classes.push(name.to_string());
                (self.classes.len() - 1) as u32
            }
        }
    }

    /// Appends a row.
    pub fn push(&mut self, values: &[f64], class: u32, time: Option<i64>, key: [u8; 32]) {
        debug_assert_eq!(values.len(), self.features.len());
        self.x.extend_from_slice(values);
        self.y.push(class);
        self.time.push(time);
        self.key.push(key);
    }

    /// Rows per class.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.classes.len()];
        for &y in &self.y {
            c[y as usize] += 1;
        }
        c
    }

    /// A new dataset with these rows (in this order).
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        let mut d = Dataset::new(self.features.clone());
        d.classes = self.classes.clone();
        for &r in rows {
            d.push(self.row(r), self.y[r], self.time[r], self.key[r]);
        }
        d
    }

    /// Appends every row of `other` as class `class`, its columns taken by feature name (rows
    /// of benign captures added to labelled data). `Err` names the features `other` lacks.
    pub fn append_as(&mut self, other: &Dataset, class: u32) -> Result<(), String> {
        let mut at = Vec::with_capacity(self.features.len());
        let mut missing = Vec::new();
        for f in &self.features {
            match other.features.iter().position(|g| g == f) {
                Some(i) => at.push(i),
                None => missing.push(f.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(missing.join(", "));
        }
        let mut row = vec![0.0; at.len()];
        for r in 0..other.len() {
            let src = other.row(r);
            for (v, &i) in row.iter_mut().zip(&at) {
                *v = src[i];
            }
            self.push(&row, class, other.time[r], other.key[r]);
        }
        Ok(())
    }

    /// Per feature, the 5th, 50th and 95th percentiles (nearest rank) of `rows` of class
    /// `class`; empty when there are none.
    pub fn quantiles(&self, rows: &[usize], class: u32) -> Vec<[f64; 3]> {
        let of: Vec<usize> = rows
            .iter()
            .copied()
            .filter(|&r| self.y[r] == class)
            .collect();
        if of.is_empty() {
            return Vec::new();
        }
        let mut col = Vec::with_capacity(of.len());
        (0..self.features.len())
            .map(|j| {
                col.clear();
                col.extend(of.iter().map(|&r| self.row(r)[j]).filter(|v| !v.is_nan()));
                col.sort_by(f64::total_cmp);
                let q = |p: f64| {
                    if col.is_empty() {
                        f64::NAN
                    } else {
                        col[((p * col.len() as f64).ceil() as usize).clamp(1, col.len()) - 1]
                    }
                };
                [q(0.05), q(0.5), q(0.95)]
            })
            .collect()
    }

    /// SHA-256 over the feature names, classes, and the labels then values (bit patterns) of
    /// `rows`, in order: what a model records as its training data's fingerprint.
    pub fn fingerprint_of(&self, rows: &[usize]) -> String {
        let mut h = Sha256::new();
        for f in &self.features {
            h.update(f.as_bytes());
            h.update([0]);
        }
        for c in &self.classes {
            h.update(c.as_bytes());
            h.update([1]);
        }
        for &r in rows {
            h.update(self.y[r].to_le_bytes());
        }
        for &r in rows {
            for &v in self.row(r) {
                h.update(v.to_bits().to_le_bytes());
            }
        }
        hex(&h.finalize())
    }
}

/// The split key of a row: SHA-256 of its `id` cell, or of `file:row` when there is none.
pub fn row_key(id: Option<&str>, file: &str, row: usize) -> [u8; 32] {
    let mut h = Sha256::new();
    match id {
        Some(id) => h.update(id.as_bytes()),
        None => h.update(format!("{file}:{row}").as_bytes()),
    }
    h.finalize().into()
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Training and held-out rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// Rows to learn from.
    pub train: Vec<usize>,
    /// Rows held out.
    pub test: Vec<usize>,
}

/// A stratified split: within each class, rows ordered by their key; the first
/// `ceil(test_fraction · n)` are held out. Reproducible from the data alone (the same rule in
/// any language: sort a class's rows by SHA-256 of their `id`).
pub fn stratified_split(d: &Dataset, test_fraction: f64) -> Split {
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); d.classes.len()];
    for (r, &y) in d.y.iter().enumerate() {
        by_class[y as usize].push(r);
    }
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rows.sort_by(|&a, &b| d.key[a].cmp(&d.key[b]).then(a.cmp(&b)));
        let n_test = (test_fraction * rows.len() as f64).ceil() as usize;
        test.extend_from_slice(&rows[..n_test.min(rows.len())]);
        train.extend_from_slice(&rows[n_test.min(rows.len())..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    Split { train, test }
}

/// A time split: rows ordered by flow start; the latest `test_fraction` are held out. `None`
/// when a row has no time.
pub fn time_split(d: &Dataset, test_fraction: f64) -> Option<Split> {
    let mut rows: Vec<(i64, usize)> = Vec::with_capacity(d.len());
    for (r, t) in d.time.iter().enumerate() {
        rows.push(((*t)?, r));
    }
    rows.sort_unstable();
    let n_train = d.len() - (test_fraction * d.len() as f64).ceil() as usize;
    let mut train: Vec<usize> = rows[..n_train].iter().map(|&(_, r)| r).collect();
    let mut test: Vec<usize> = rows[n_train..].iter().map(|&(_, r)| r).collect();
    train.sort_unstable();
    test.sort_unstable();
    Some(Split { train, test })
}

#[cfg(test)]
mod tests {
    #[test]
    fn appended_rows_take_their_columns_by_name_and_the_given_class() {
        let mut a = Dataset::new(vec!["x".into(), "y".into()]);
        let c = a.class_index("BENIGN");
        a.push(&[1.0, 2.0], c, None, [0; 32]);
        let mut b = Dataset::new(vec!["y".into(), "z".into(), "x".into()]);
        let k = b.class_index("DDoS");
        b.push(&[20.0, 0.0, 10.0], k, None, [1; 32]);
        a.append_as(&b, c).unwrap();
        assert_eq!(a.row(1), &[10.0, 20.0]);
        assert_eq!(a.y, vec![0, 0]);
        let mut short = Dataset::new(vec!["y".into()]);
        short.push(&[1.0], 0, None, [2; 32]);
        assert_eq!(a.append_as(&short, c), Err("x".into()));
    }

    #[test]
    fn quantiles_are_nearest_rank_over_the_class_rows() {
        let mut d = Dataset::new(vec!["x".into()]);
        for i in 1..=100 {
            d.push(&[i as f64], (i % 2 == 0) as u32, None, [0; 32]);
        }
        d.classes = vec!["a".into(), "b".into()];
        let rows: Vec<usize> = (0..100).collect();
        // Class 1 holds 2, 4, …, 100.
        assert_eq!(d.quantiles(&rows, 1), vec![[6.0, 50.0, 96.0]]);
        assert!(d.quantiles(&rows, 7).is_empty());
    }

    use super::*;

    fn toy() -> Dataset {
        let mut d = Dataset::new(vec!["a".into()]);
        for i in 0..10 {
            let c = d.class_index(if i < 7 { "BENIGN" } else { "DDoS" });
            d.push(
                &[i as f64],
                c,
                Some(100 - i),
                row_key(Some(&i.to_string()), "f", i as usize),
            );
        }
        d
    }

    #[test]
    fn stratified_split_holds_out_the_rounded_up_fraction_of_every_class() {
        let d = toy();
        let s = stratified_split(&d, 0.3);
        let test_classes: Vec<u32> = s.test.iter().map(|&r| d.y[r]).collect();
        assert_eq!(test_classes.iter().filter(|&&c| c == 0).count(), 3); // ceil(2.1)
        assert_eq!(test_classes.iter().filter(|&&c| c == 1).count(), 1); // ceil(0.9)
        assert_eq!(s.train.len() + s.test.len(), 10);
        assert_eq!(stratified_split(&d, 0.3), s, "reproducible");
    }

    #[test]
    fn time_split_holds_out_the_latest_rows() {
        let d = toy();
        let s = time_split(&d, 0.3).unwrap();
        // Times are 100 - i: the latest are rows 0, 1, 2.
        assert_eq!(s.test, vec![0, 1, 2]);
    }
}
