"""What each of the 23 metrics says, in plain words, for the people who act on it (METRICS.md has the formulas).

`EXPLANATIONS` maps a metric id to four texts: what the number means, why it matters, what typically
causes a fail, and what to do about it; `note` (optional) adds what the December 2026 amendments
changed in how the number is produced or read. `AMENDMENTS` explains the notions the amendments added
to every audit (intervals, informational metrics, the trivial-model baseline, rows dropped,
organisation thresholds). Pure data: no Django, no NumPy.
"""

from __future__ import annotations

__all__ = ["EXPLANATIONS", "AMENDMENTS", "explain", "amendment_notes"]

_GROUPS = ("Groups are the values of each sensitive attribute in the evaluation rows; with several attributes the "
           "worst one is reported and the tables below show each.")

EXPLANATIONS: dict[str, dict[str, str]] = {
    "FAIR-01": {
        "means": "The gap between the group the model approves most often and the group it approves least often "
                 "(the share predicted positive). 0.12 means one group is selected 12 percentage points more often "
                 "than another. " + _GROUPS,
        "matters": "Unequal selection rates are the first sign of discrimination regulators and courts look at "
                   "(EU AI Act Art. 10(2)(f)-(g), China Interim Measures Art. 4(2)); a large gap needs a "
                   "justification even when the model is accurate.",
        "fails": "Training labels that carry past bias, a sensitive attribute (or a proxy such as postcode or a "
                 "part-time flag) among the inputs, groups with very different base rates, or a small group whose "
                 "rate is unstable.",
        "todo": "Compare with FAIR-06 to see whether the gap is already in the labels; check EXPL-04 for direct "
                "reliance on the attribute; look for proxies; rebalance or reweight the training data, or adjust "
                "decision thresholds per group where the law allows; document a legitimate reason if one exists.",
        "note": "Carries a 95 % bootstrap interval: a gap whose interval crosses the threshold is not settled.",
    },
    "FAIR-02": {
        "means": "The lowest group selection rate divided by the highest: 1.0 means every group is selected equally "
                 "often, 0.75 means the least-selected group gets 75 % of the best-off group's rate. " + _GROUPS,
        "matters": "The 'four-fifths rule' (ratio ≥ 0.8) is a long-standing test of adverse impact in employment and "
                   "credit; it is read as bias evidence under EU AI Act Art. 10 and China's Interim Measures Art. 4.",
        "fails": "The same causes as FAIR-01; a ratio also falls sharply when overall selection rates are low, "
                 "since a small absolute gap is then a large relative one.",
        "todo": "Read it with FAIR-01 (absolute gap) before acting; then treat the causes as for FAIR-01: labels, "
                "proxies, representation (DATA-02), per-group thresholds where lawful.",
        "note": "Carries a 95 % bootstrap interval.",
    },
    "FAIR-03": {
        "means": "The largest gap between groups in either the true-positive rate (qualified people approved) or the "
                 "false-positive rate (unqualified people approved). 0 means the model errs the same way for "
                 "everyone. " + _GROUPS,
        "matters": "Equal selection can hide unequal errors: one group may be wrongly refused more often. Equalized "
                   "odds is the usual test that errors, not only outcomes, are shared fairly.",
        "fails": "Groups with fewer training rows (the model learns them less well), features that are noisier "
                 "for one group, or labels of different quality per group.",
        "todo": "Look at the per-group TPR and FPR below to see which error drives the gap; collect more or better "
                "data for the weaker group; consider post-processing to equalize odds; check the group is not too "
                "small to trust.",
        "note": "Carries a 95 % bootstrap interval.",
    },
    "FAIR-04": {
        "means": "The gap between groups in the true-positive rate only: among people who deserve a positive "
                 "outcome, how much more often one group receives it than another. " + _GROUPS,
        "matters": "Missing qualified people of one group (a loan, a job interview) is the harm most fairness laws "
                   "target; equal opportunity measures exactly that.",
        "fails": "Too few positive examples of a group in training, a threshold tuned on the majority group, or "
                 "labels that under-record positives for one group.",
        "todo": "Check the positives per group in the table; gather more positive examples of the disadvantaged "
                "group; tune decision thresholds on balanced validation data.",
        "note": "Carries a 95 % bootstrap interval.",
    },
    "FAIR-05": {
        "means": "The gap between the most and least accurate groups, divided by overall accuracy: 0.08 means the "
                 "worst-served group's accuracy trails the best by 8 % of the model's accuracy. " + _GROUPS,
        "matters": "A model that works well on average can still fail one group; accuracy per group is part of the "
                   "accuracy and bias examination the EU AI Act asks for (Art. 10, Art. 15).",
        "fails": "Under-represented groups, distribution shift between groups, features missing or noisier for "
                 "one group.",
        "todo": "Find the weakest group in the table; add representative data for it (see DATA-02), consider a "
                "group-aware evaluation before each release, and report the per-group accuracy in the model card.",
        "note": "Carries a 95 % bootstrap interval.",
    },
    "FAIR-06": {
        "means": "The model's selection-rate gap (FAIR-01 on its predictions) divided by the same gap in the true "
                 "labels. Above 1 the model widens the bias already in the data; below 1 it narrows it.",
        "matters": "It separates 'the data was unequal' from 'the model made it worse': a model that amplifies "
                   "historical bias is a design problem the provider must address (EU AI Act Art. 10(2)(f)).",
        "fails": "Models that latch onto a group signal because it predicts the label, regularisation that "
                 "favours the majority, or thresholds that push borderline cases of one group to the negative side.",
        "todo": "Reduce reliance on the sensitive attribute and its proxies (EXPL-04), add fairness constraints or "
                "reweighting during training, and re-audit; a value near 1 means the bias is in the labels: fix the "
                "data or its labelling.",
        "note": "Not applicable when the labels show no gap (nothing to amplify); carries a 95 % bootstrap interval.",
    },
    "EXPL-01": {
        "means": "How evenly the model spreads its attention over the features, from 0 (one feature decides "
                 "everything) to 1 (all features weigh the same). Computed from the mean absolute attribution of "
                 "each feature.",
        "matters": "People affected by a decision, and the deployer's oversight staff, must be able to understand "
                   "what drives it (EU AI Act Art. 13); a model that weighs everything a little is hard to explain.",
        "fails": "Many weakly informative or redundant features, one-hot encodings that spread a concept over "
                 "many columns, or a model that has not learned a clear signal.",
        "todo": "Remove redundant and uninformative features, group related ones, and check the importance chart "
                "below; a model with a few dominant, meaningful features is easier to document and oversee.",
    },
    "EXPL-02": {
        "means": "How much the explanation changes when the input changes very slightly: the relative change of "
                 "the attributions under tiny perturbations. 0.2 means a 20 % change in the explanation.",
        "matters": "An explanation that flips under noise cannot be relied on to justify a decision to the person "
                   "concerned or to an auditor (EU AI Act Art. 13, Annex IV).",
        "fails": "Very steep or jagged decision functions (large weights, little regularisation), features on "
                 "very different scales, or an overfitted model.",
        "todo": "Regularise the model (weight decay, early stopping), standardise inputs, smooth the decision "
                "function; then re-audit and compare explanations of neighbouring cases.",
    },
    "EXPL-03": {
        "means": "How badly the explanation predicts the model's own reaction to perturbations (captum "
                 "infidelity, normalised): 0 means the attributions exactly account for how the output moves.",
        "matters": "An explanation that does not reflect what the model actually does misleads the people it is "
                   "meant to inform; Annex IV documentation must describe the real logic.",
        "fails": "Strong interactions between features that additive attributions cannot express, saturated "
                 "outputs, or black-box models explained through a surrogate.",
        "todo": "Prefer simpler or more additive models where explanation matters, report the limits of the "
                "explanation method in the model card, and check EXPL-05 for a global surrogate's fidelity.",
    },
    "EXPL-04": {
        "means": "The share of the model's total attribution that goes to the declared sensitive attributes: "
                 "0.10 means a tenth of what drives its decisions is, directly, sex, age or another protected "
                 "feature.",
        "matters": "Deciding on a protected characteristic is direct discrimination unless a law allows it; "
                   "Art. 10(5) EU AI Act permits processing such data to detect bias, not to decide on it.",
        "fails": "Feeding the sensitive attribute to the model as an input; 0 when it is not an input at all (but "
                 "proxies can still carry it: see FAIR-01).",
        "todo": "Drop the sensitive attribute from the model inputs (keep it in the dataset for auditing), retrain "
                "and re-audit; if the law requires it as an input, document the legal basis.",
    },
    "EXPL-05": {
        "means": "How often a small decision tree (depth 5), trained to imitate the model, gives the same answer "
                 "as the model on evaluation rows: 0.93 means the model's behaviour can be summarised by readable "
                 "rules 93 % of the time.",
        "matters": "A faithful global summary lets deployers and supervisors see the decision logic as a whole "
                   "(EU AI Act Art. 13, Annex IV 2(b)).",
        "fails": "Highly non-linear models, many interacting features, or a model whose behaviour varies by "
                 "small regions the tree cannot capture.",
        "todo": "Simplify the model or its features where transparency matters more than the last point of "
                "accuracy; publish the surrogate's rules with their fidelity in the instructions for use.",
    },
    "ROB-01": {
        "means": "The accuracy left under a one-step adversarial attack (FGSM, small worst-case changes to "
                 "continuous inputs), as a share of clean accuracy: 0.85 keeps 85 % of the accuracy.",
        "matters": "High-risk AI must be resilient to attempts to manipulate its inputs (EU AI Act Art. 15(4)-(5)); "
                   "cheap attacks that work are the first a bad actor tries.",
        "fails": "Models with large input gradients (unregularised, overconfident), features whose small change "
                 "flips the decision, no adversarial training.",
        "todo": "Train with adversarial examples or noise, regularise, clip or validate inputs at the point of "
                "use, and monitor for manipulated inputs; re-audit with ROB-02 to confirm.",
        "note": "Carries a 95 % bootstrap interval. On black-box formats (onnx, sklearn) the attack is crafted on a "
                "surrogate and transferred; the details say so.",
    },
    "ROB-02": {
        "means": "The accuracy left under a stronger, iterative attack (PGD, 20 steps within the same budget), as "
                 "a share of clean accuracy.",
        "matters": "A determined attacker iterates; this is the figure that says how the model holds up against "
                   "one (EU AI Act Art. 15(5)).",
        "fails": "The causes of ROB-01, more strongly; a model that passes ROB-01 but fails here is only "
                 "superficially robust.",
        "todo": "Adversarial training with PGD examples is the standard remedy; reduce reliance on fragile "
                "features; add input validation and rate limits where the model is exposed.",
        "note": "On black-box formats the surrogate's PGD is refined by a query-based search against the real "
                "model within a fixed query budget (recorded in the details), so it no longer equals ROB-01. "
                "Carries a 95 % bootstrap interval.",
    },
    "ROB-03": {
        "means": "Among attacks built on a simple stand-in model (a logistic regression imitating this one), the "
                 "share that also fool this model: 0.4 means 40 % of such transferred attacks succeed.",
        "matters": "Attackers rarely have the model itself; if attacks crafted on a copy transfer, the model can "
                   "be attacked without access to it (EU AI Act Art. 15(5)).",
        "fails": "A model whose decision boundary is close to linear in the attacked features, or one trained on "
                 "the same public data an attacker can use.",
        "todo": "Adversarial training, input preprocessing, and keeping model outputs coarse (labels rather than "
                "scores) where they are exposed.",
        "note": "The surrogate is fitted on standardised inputs and must converge without warnings; carries a 95 % "
                "bootstrap interval.",
    },
    "ROB-04": {
        "means": "The accuracy left when small random noise is added to the continuous inputs, as a share of clean "
                 "accuracy: 0.97 keeps 97 %.",
        "matters": "Real inputs are noisy (measurement error, typos, rounding); the EU AI Act asks for an "
                   "appropriate level of robustness against errors and inconsistencies (Art. 15(4)).",
        "fails": "Decisions that hinge on tiny differences in a feature, overfitting, features recorded with "
                 "more precision in training than in use.",
        "todo": "Train with noise augmentation, round or bin features to the precision they have in use, and "
                "regularise; re-check accuracy on data from the production pipeline.",
        "note": "Carries a 95 % bootstrap interval.",
    },
    "PRIV-01": {
        "means": "How well an attacker can tell whether a person's record was in the training data, from the "
                 "model's loss alone: the best true-positive rate minus false-positive rate. 0 means no better "
                 "than guessing.",
        "matters": "Revealing that someone was in a training set (for example of patients) is itself a personal "
                   "data leak; confidentiality attacks are named in EU AI Act Art. 15(5) and China's Interim "
                   "Measures Art. 9/11.",
        "fails": "Overfitting (see PRIV-03): the model is much more confident on the rows it was trained on; "
                 "small training sets, long training, large models.",
        "todo": "Reduce overfitting (regularisation, early stopping, more data); train a differentially-private "
                "variant (Privacy page) and compare; avoid exposing confidence scores.",
        "note": "Uses all eligible rows up to its cap so the estimate is stable across seeds; below the KS "
                "critical value the advantage is indistinguishable from zero and passes. Carries a 95 % bootstrap "
                "interval.",
    },
    "PRIV-02": {
        "means": "The privacy budget ε the model was trained with under differential privacy, at the recorded δ. "
                 "Lower is stronger privacy; a model not trained with DP has no bound (shown as —, status fail).",
        "matters": "ε is the only privacy guarantee that holds against any attacker; regulators and data "
                   "protection officers accept it as evidence that no individual record can be reconstructed.",
        "fails": "The model was not trained with DP (most models), or trained with a large ε.",
        "todo": "Train a DP variant from the Privacy page at a few ε values, compare accuracy and fairness on the "
                "trade-off chart, and promote the variant that meets both; if DP is not needed for this system, "
                "mark the metric informational in the organisation thresholds.",
        "note": "Outside the registry (audit_file) no training record exists, so it is not applicable there.",
    },
    "PRIV-03": {
        "means": "Training accuracy minus evaluation accuracy: 0.06 means the model is 6 points more accurate on "
                 "data it has seen than on new data.",
        "matters": "A large gap means the model memorised its training rows: it leaks them (PRIV-01) and will "
                   "perform worse in use than the evaluation suggests.",
        "fails": "Too many epochs, too large a model for the data, no regularisation, duplicated rows between "
                 "training and evaluation splits (which hides the gap) or a tiny training set.",
        "todo": "Add regularisation or early stopping, reduce model size, gather more data, and check the split "
                "is a fair sample of real use.",
    },
    "TRANS-01": {
        "means": "The share of the 12 model-card fields that are filled in (intended purpose, provider, version, "
                 "architecture, training and evaluation data, performance, limitations, foreseeable misuse, human "
                 "oversight, risk management, contact).",
        "matters": "Technical documentation and instructions for use are legal obligations for high-risk AI (EU "
                   "AI Act Art. 11, 13, Annex IV); an empty model card is a compliance gap on its own.",
        "fails": "Models uploaded without a model card, or with only some fields.",
        "todo": "Fill in the missing fields listed in the details when uploading the next version (the upload "
                "form has one box per field); performance is filled by the audit.",
    },
    "TRANS-02": {
        "means": "Whether Assay's tamper-evident audit log verifies and holds every event of this model version "
                 "(registration, upload, each audit, DP training): 1 means the record is complete and intact.",
        "matters": "High-risk AI must keep logs that allow its functioning to be traced (EU AI Act Art. 12); a "
                   "broken or incomplete chain undermines every other piece of evidence.",
        "fails": "A break in the hash chain (a database edited outside Assay, a restore from an inconsistent "
                 "backup), or events missing because the model was imported without going through the registry.",
        "todo": "Open the Audit log page and run the verification; restore from a consistent backup or "
                "re-register the model through Assay; investigate any break as a security incident.",
    },
    "DATA-01": {
        "means": "The share of the 8 datasheet fields filled for the training dataset: sources, collection period "
                 "and method, cleaning, labelling, personal data and its legal basis, licences, known biases.",
        "matters": "Data governance duties (EU AI Act Art. 10(2), Art. 53(1)(d) for general-purpose models; China "
                   "Interim Measures Art. 7-8 on lawful training data) require knowing where the data came from.",
        "fails": "Datasets uploaded without a datasheet, or a model whose training dataset version was not "
                 "recorded.",
        "todo": "Upload the dataset again with its datasheet fields filled (each has its own box), and name it as "
                "the training dataset when uploading the model.",
    },
    "DATA-02": {
        "means": "For each sensitive attribute, the size of the smallest group divided by the largest in the "
                 "training rows (worst attribute reported): 0.1 means the smallest group has a tenth of the rows "
                 "of the largest.",
        "matters": "Data sets must be sufficiently representative of the persons the system is used on (EU AI Act "
                   "Art. 10(3)-(4)); thin groups are where the model errs most and fairness numbers are least "
                   "reliable.",
        "fails": "Sampling that mirrors past exclusion, data from one region or channel, rare categories.",
        "todo": "Collect more data for the small groups, or reweight or oversample them in training; state the "
                "remaining imbalance in the datasheet's known-biases field.",
    },
    "DATA-03": {
        "means": "The share of training rows that look statistically out of place for their class (spectral "
                 "signatures): 0.02 means 2 % of rows are flagged as possible poisoning, such as a hidden trigger "
                 "with a flipped label.",
        "matters": "Poisoned training data can plant a backdoor that makes the model misbehave on demand; data "
                   "poisoning is a named threat in EU AI Act Art. 15(5).",
        "fails": "Injected or mislabelled rows, data merged from an untrusted source, or a genuinely distinct "
                 "sub-population that is not malicious.",
        "todo": "Review the flagged rows listed in the details, trace their source, remove or relabel the bad "
                "ones, and retrain; if they are a real sub-population, document it.",
        "note": "Representations are standardised inputs (z-scores) or a penultimate layer, so one wide-ranged "
                "feature cannot hide a backdoor; the fixed k is reported in the details.",
    },
}

AMENDMENTS: dict[str, str] = {
    "interval": "The 95 % interval comes from re-computing the metric on resampled evaluation rows (bootstrap, "
                "seeded): if it straddles a threshold, the status could go either way on similar data.",
    "informational": "The organisation marked this metric informational: it is computed and shown, but left out of "
                     "its dimension score.",
    "organisation": "These are the organisation's thresholds, not the catalog's; the audit recorded them.",
    "trivial": "This model does not beat always predicting the majority class, so several metrics pass "
               "vacuously: read a pass here with care.",
    "rows_dropped": "Rows the model could not take (for example missing values without an imputer) were left out; "
                    "the audit page says how many and why.",
    "not_applicable": "Not applicable is not a pass: the metric could not be measured on this model and data, for "
                      "the reason given, and counts in no score.",
}


def explain(metric_id: str) -> dict[str, str] | None:
    """Return the plain-words texts of a metric ({"means", "matters", "fails", "todo"[, "note"]}), or None."""
    return EXPLANATIONS.get(metric_id)


def amendment_notes(*, ci95: bool = False, informational: bool = False, organisation: bool = False,
                    trivial: bool = False, rows_dropped: bool = False, not_applicable: bool = False) -> list[str]:
    """Return the general notes that apply to one metric result, in a fixed order."""
    flags = {"not_applicable": not_applicable, "interval": ci95, "informational": informational,
             "organisation": organisation, "trivial": trivial, "rows_dropped": rows_dropped}
    return [AMENDMENTS[key] for key, on in flags.items() if on]
