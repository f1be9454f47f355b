//! Evaluation of a classifier on labelled rows: per-class precision, recall and F1 with
//! support, macro-F1, the binary (benign vs attack) view with PR-AUC and TPR at fixed
//! false-positive rates, and the confusion matrix.

use serde::Serialize;

/// One class's figures.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// Class name.
    pub class: String,
    /// Correct / predicted as this class (0 when none predicted).
    pub precision: f64,
    /// Correct / rows of this class.
    pub recall: f64,
    /// Harmonic mean of the two.
    pub f1: f64,
    /// Rows of this class.
    pub support: usize,
}

/// Everything `netvigil eval` reports.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Rows evaluated.
    pub rows: usize,
    /// Per class, in the model's class order (classes with no rows and no predictions left out).
    pub classes: Vec<ClassMetrics>,
    /// Mean F1 over classes with at least `min_support` rows.
    pub macro_f1: f64,
    /// The support bound of `macro_f1`.
    pub min_support: usize,
    /// Mean F1 over every class with rows.
    pub macro_f1_all: f64,
    /// Share of rows whose top class is right.
    pub accuracy: f64,
    /// Attack (any non-benign class) vs benign at the model's threshold.
    pub binary: BinaryMetrics,
    /// Attack vs benign by the top class (attack = any class but benign is most probable):
    /// the decision a plain classifier makes, comparable with scikit-learn's `predict`.
    pub top_class: Decision,
    /// Rows: true class; columns: predicted class (model class order).
    pub confusion: Vec<Vec<usize>>,
    /// Class names of the confusion matrix's rows and columns.
    pub labels: Vec<String>,
}

/// Precision, recall and F1 of one attack-vs-benign decision rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    /// Flagged attacks / flagged.
    pub precision: f64,
    /// Flagged attacks / attacks.
    pub recall: f64,
    /// Harmonic mean.
    pub f1: f64,
    /// Flagged benign / benign.
    pub fpr: f64,
}

impl Decision {
    /// The figures of `flagged` against `is_attack`.
    pub fn of(is_attack: &[bool], flagged: impl Iterator<Item = bool>) -> Decision {
        let (mut tp, mut fp) = (0, 0);
        for (&a, f) in is_attack.iter().zip(flagged) {
            if f {
                if a {
                    tp += 1;
                } else {
                    fp += 1;
                }
            }
        }
        let attacks = is_attack.iter().filter(|&&a| a).count();
        let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, attacks));
        Decision {
            precision,
            recall,
            f1: f1(precision, recall),
            fpr: ratio(fp, is_attack.len() - attacks),
        }
    }
}

/// The attack-vs-benign view.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BinaryMetrics {
    /// Threshold on P(attack) used for precision/recall/F1.
    pub threshold: f64,
    /// Precision of "attack".
    pub precision: f64,
    /// Recall of "attack" (TPR).
    pub recall: f64,
    /// F1 of "attack".
    pub f1: f64,
    /// Benign rows flagged / benign rows.
    pub fpr: f64,
    /// Area under the precision-recall curve (average precision).
    pub pr_auc: f64,
    /// TPR at the highest threshold whose FPR ≤ 1e-3.
    pub tpr_at_fpr_1e3: f64,
    /// TPR at the highest threshold whose FPR ≤ 1e-4.
    pub tpr_at_fpr_1e4: f64,
    /// Attack rows.
    pub attacks: usize,
    /// Benign rows.
    pub benign: usize,
}

fn f1(p: f64, r: f64) -> f64 {
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Evaluates predictions. `truth[i]` and `pred[i]` index `labels`; `p_attack[i]` is the row's
/// attack probability; `benign` the benign class index (if any).
pub fn evaluate(
    labels: &[String],
    benign: Option<usize>,
    truth: &[usize],
    pred: &[usize],
    p_attack: &[f64],
    threshold: f64,
    min_support: usize,
) -> Evaluation {
    let k = labels.len();
    let mut confusion = vec![vec![0usize; k]; k];
    for (&t, &p) in truth.iter().zip(pred) {
        confusion[t][p] += 1;
    }
    let mut classes = Vec::new();
    let (mut sum, mut n, mut sum_all, mut n_all) = (0.0, 0, 0.0, 0);
    for c in 0..k {
        let support: usize = confusion[c].iter().sum();
        let predicted: usize = (0..k).map(|t| confusion[t][c]).sum();
        if support == 0 && predicted == 0 {
            continue;
        }
        let tp = confusion[c][c];
        let (precision, recall) = (ratio(tp, predicted), ratio(tp, support));
        let m = ClassMetrics {
            class: labels[c].clone(),
            precision,
            recall,
            f1: f1(precision, recall),
            support,
        };
        if support > 0 {
            sum_all += m.f1;
            n_all += 1;
        }
        if support >= min_support {
            sum += m.f1;
            n += 1;
        }
        classes.push(m);
    }
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    let is_attack: Vec<bool> = truth.iter().map(|&t| Some(t) != benign).collect();
    Evaluation {
        rows: truth.len(),
        classes,
        macro_f1: if n == 0 { 0.0 } else { sum / n as f64 },
        min_support,
        macro_f1_all: if n_all == 0 {
            0.0
        } else {
            sum_all / n_all as f64
        },
        accuracy: ratio(correct, truth.len()),
        binary: binary(&is_attack, p_attack, threshold),
        top_class: Decision::of(&is_attack, pred.iter().map(|&p| Some(p) != benign)),
        confusion,
        labels: labels.to_vec(),
    }
}

/// The binary figures of scores against truth.
pub fn binary(is_attack: &[bool], p_attack: &[f64], threshold: f64) -> BinaryMetrics {
    let attacks = is_attack.iter().filter(|&&a| a).count();
    let benign = is_attack.len() - attacks;
    let at = Decision::of(is_attack, p_attack.iter().map(|&p| p >= threshold));
    // Scores high to low; ties form one step of the curve.
    let mut order: Vec<usize> = (0..p_attack.len()).collect();
    order.sort_by(|&a, &b| p_attack[b].total_cmp(&p_attack[a]));
    let (mut ctp, mut cfp, mut ap, mut prev_recall) = (0usize, 0usize, 0.0, 0.0);
    let (mut at3, mut at4) = (0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let s = p_attack[order[i]];
        while i < order.len() && p_attack[order[i]] == s {
            if is_attack[order[i]] {
                ctp += 1;
            } else {
                cfp += 1;
            }
            i += 1;
        }
        let r = ratio(ctp, attacks);
        ap += (r - prev_recall) * ratio(ctp, ctp + cfp);
        prev_recall = r;
        let fpr = ratio(cfp, benign);
        if fpr <= 1e-3 {
            at3 = at3.max(r);
        }
        if fpr <= 1e-4 {
            at4 = at4.max(r);
        }
    }
    BinaryMetrics {
        threshold,
        precision: at.precision,
        recall: at.recall,
        f1: at.f1,
        fpr: at.fpr,
        pr_auc: ap,
        tpr_at_fpr_1e3: at3,
        tpr_at_fpr_1e4: at4,
        attacks,
        benign,
    }
}

/// The lowest threshold on P(attack) whose false-positive rate over `benign_scores` is at most
/// `fpr`: just above the `⌊fpr · n⌋ + 1`-th highest benign score (so at most `⌊fpr · n⌋`
/// benign rows reach it).
pub fn threshold_for_fpr(benign_scores: &[f64], fpr: f64) -> f64 {
    if benign_scores.is_empty() {
        return 0.5;
    }
    let mut s = benign_scores.to_vec();
    s.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpr * s.len() as f64).floor() as usize;
    if allowed >= s.len() {
        return 0.0;
    }
    // Strictly above the first benign score that must not alert.
    let t = s[allowed];
    let next = f64::from_bits(t.to_bits() + 1);
    if t < 0.0 {
        0.0
    } else if next > 1.0 {
        1.0
    } else {
        next
    }
}

/// Scores `rows` of `d` with `scorer` (built for `d`'s feature names) and evaluates against their labels. Data classes the
/// model does not know are kept as truth classes it can never predict.
pub fn evaluate_model(
    scorer: &crate::score::Scorer,
    d: &crate::dataset::Dataset,
    rows: &[usize],
    min_support: usize,
) -> Evaluation {
    let mut labels: Vec<String> = scorer.model().classes().to_vec();
    let map: Vec<usize> = d
        .classes
        .iter()
        .map(|c| match labels.iter().position(|l| l == c) {
            Some(i) => i,
            None => {
                labels.push(c.clone());
                labels.len() - 1
            }
        })
        .collect();
    let (mut truth, mut pred, mut p) = (Vec::new(), Vec::new(), Vec::new());
    let (mut x, mut scratch) = (Vec::new(), Vec::new());
    for &r in rows {
        scorer.inputs(d.row(r), &mut x);
        let s = scorer.score_inputs(&x, &mut scratch);
        truth.push(map[d.y[r] as usize]);
        pred.push(s.class);
        p.push(s.p_attack);
    }
    let benign = scorer.model().header.benign;
    evaluate(
        &labels,
        Some(benign),
        &truth,
        &pred,
        &p,
        scorer.threshold(),
        min_support,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_class_and_macro_figures_follow_the_confusion_matrix() {
        let labels: Vec<String> = ["BENIGN", "DDoS", "PortScan"].map(String::from).to_vec();
        // truth: 4 benign, 3 DDoS, 1 PortScan; one DDoS predicted benign.
        let truth = [0, 0, 0, 0, 1, 1, 1, 2];
        let pred = [0, 0, 0, 0, 1, 1, 0, 2];
        let p = [0.0, 0.1, 0.2, 0.3, 0.9, 0.8, 0.4, 0.99];
        let e = evaluate(&labels, Some(0), &truth, &pred, &p, 0.5, 2);
        assert_eq!(
            e.confusion,
            vec![vec![4, 0, 0], vec![1, 2, 0], vec![0, 0, 1]]
        );
        assert_eq!(e.classes[0].precision, 0.8);
        assert_eq!(e.classes[1].recall, 2.0 / 3.0);
        // Only BENIGN (4) and DDoS (3) have ≥ 2 rows.
        let f_benign = 2.0 * 0.8 / 1.8;
        let f_ddos = 2.0 * (2.0 / 3.0) / (1.0 + 2.0 / 3.0);
        assert!((e.macro_f1 - (f_benign + f_ddos) / 2.0).abs() < 1e-15);
        assert_eq!(e.binary.recall, 0.75);
        assert_eq!(e.binary.precision, 1.0);
        // Scores rank all attacks above benign except the 0.4 DDoS below 0.3? No: 0.4 > 0.3,
        // so the ranking is perfect and the average precision is 1.
        assert_eq!(e.binary.pr_auc, 1.0);
        assert_eq!(e.binary.tpr_at_fpr_1e3, 1.0);
    }

    #[test]
    fn threshold_for_fpr_lets_through_at_most_the_allowed_benign_rows() {
        let scores: Vec<f64> = (0..1000).map(|i| i as f64 / 1000.0).collect();
        let t = threshold_for_fpr(&scores, 1e-3);
        // One benign row (0.999) may alert; 0.998 must not.
        assert!(t > 0.998 && t <= 0.999);
        assert_eq!(scores.iter().filter(|&&s| s >= t).count(), 1);
        let t0 = threshold_for_fpr(&scores, 0.0);
        assert!(t0 > 0.999);
        assert_eq!(scores.iter().filter(|&&s| s >= t0).count(), 0);
    }
}
