"""Privacy (PRIV-01 … PRIV-03): loss-threshold membership inference, DP ε, generalisation gap."""

from __future__ import annotations

import math

import numpy as np

from audit.metrics.state import AuditState, MetricOutcome
from audit.metrics.uncertainty import ks_bootstrap, rng_for

__all__ = ["membership_advantage", "roc_auc", "ks_critical_value"]

EMPTY_LOSSES_ERROR = "Membership inference needs at least one member and one non-member loss."


def membership_advantage(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> float:
    r"""Return the best advantage of a loss-threshold attack (Yeom et al. 2018).

    .. math:: \mathrm{Adv} = \max_t \bigl(\Pr[\ell \le t \mid \text{member}]
              - \Pr[\ell \le t \mid \text{non-member}]\bigr)

    Exact over all thresholds: sort all losses once and evaluate TPR − FPR after each run of
    tied values (and at t = −∞, where it is 0). 0 means the losses reveal nothing about membership.
    """
    members, others = np.asarray(member_losses, float), np.asarray(nonmember_losses, float)
    if len(members) == 0 or len(others) == 0:
        raise ValueError(EMPTY_LOSSES_ERROR)
    losses = np.concatenate([members, others])
    is_member = np.concatenate([np.ones(len(members)), np.zeros(len(others))])
    order = np.argsort(losses, kind="stable")
    sorted_losses, sorted_member = losses[order], is_member[order]
    tpr = np.cumsum(sorted_member) / len(members)
    fpr = np.cumsum(1 - sorted_member) / len(others)
    last_of_tie = np.append(sorted_losses[1:] != sorted_losses[:-1], True)
    return float(max(0.0, (tpr - fpr)[last_of_tie].max()))


def roc_auc(member_losses: np.ndarray, nonmember_losses: np.ndarray) -> float:
    r"""Return the AUC of "lower loss ⇒ member" (Mann-Whitney, ties count one half).

    .. math:: \mathrm{AUC} = \Pr[\ell_{member} < \ell_{non}] + \tfrac12 \Pr[\ell_{member} = \ell_{non}]
    """
    members, others = np.asarray(member_losses, float), np.asarray(nonmember_losses, float)
    if len(members) == 0 or len(others) == 0:
        raise ValueError(EMPTY_LOSSES_ERROR)
    losses = np.concatenate([members, others])
    _, inverse, counts = np.unique(losses, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # average rank, ascending loss
    member_rank_sum = ranks[: len(members)].sum()
    u_members_higher = member_rank_sum - len(members) * (len(members) + 1) / 2.0
    return float(1.0 - u_members_higher / (len(members) * len(others)))


def ks_critical_value(n: int, m: int) -> float:
    r"""Return the 95 % two-sample Kolmogorov-Smirnov critical value :math:`1.36\sqrt{(n+m)/(nm)}`."""
    return 1.36 * math.sqrt((n + m) / (n * m))


def _advantage_replicates(sorted_losses: np.ndarray, w_members: np.ndarray, w_others: np.ndarray) -> np.ndarray:
    """Advantage per replicate from resampling weights over the pooled, sorted losses."""
    tpr = np.cumsum(w_members, axis=1) / w_members.sum(axis=1, keepdims=True)
    fpr = np.cumsum(w_others, axis=1) / w_others.sum(axis=1, keepdims=True)
    last_of_tie = np.append(sorted_losses[1:] != sorted_losses[:-1], True)
    return np.maximum(0.0, (tpr - fpr)[:, last_of_tie].max(axis=1))


def membership_outcome(state: AuditState) -> MetricOutcome:
    """PRIV-01: loss-threshold membership inference advantage with the KS indistinguishability rule.

    Members: up to `mia_rows` training rows; non-members: up to `mia_rows` evaluation rows (each
    side uses every row it has up to the cap, so the estimate does not hang on one draw).
    """
    n = min(state.config["mia_rows"], len(state.data.x_train))
    m = min(state.config["mia_rows"], len(state.data.x_eval))
    if n == 0 or m == 0:
        return MetricOutcome(None, reason="needs training and evaluation rows")
    members = state.losses("train")[state.sample("PRIV-01 members", len(state.data.x_train), n, offset=2)]
    others = state.losses("eval")[state.sample("PRIV-01 non-members", len(state.data.x_eval), m, offset=3)]
    advantage, critical = membership_advantage(members, others), ks_critical_value(n, m)
    details = {"attack": "loss threshold (Yeom et al. 2018)", "members": n, "non_members": m,
               "auc": roc_auc(members, others), "ks_critical_value": critical,
               "ci95": ks_bootstrap(members, others, _advantage_replicates, n_boot=state.config["n_boot"],
                                    rng=rng_for(state.seed, "PRIV-01")),
               "n_boot": state.config["n_boot"]}
    if advantage < critical:
        details["note"] = "below the 95 % KS critical value: indistinguishable from zero"
        return MetricOutcome(advantage, details, status="pass")
    return MetricOutcome(advantage, details)


def dp_epsilon_outcome(state: AuditState) -> MetricOutcome:
    """PRIV-02: ε of the DP training run (Opacus accountant), unbounded without DP."""
    context = state.context
    if context is None or not context.registered:
        return MetricOutcome(None, reason="not a registered model")
    if context.dp is None:
        return MetricOutcome(None, {"epsilon": "inf", "note": "not trained with differential privacy"}, status="fail")
    epsilon = context.dp.get("epsilon")
    details = {k: context.dp.get(k) for k in ("delta", "accountant") if k in context.dp}
    if epsilon is None or not math.isfinite(float(epsilon)):
        return MetricOutcome(None, {**details, "epsilon": "inf"}, status="fail")
    return MetricOutcome(float(epsilon), details)


def generalisation_gap_outcome(state: AuditState) -> MetricOutcome:
    """PRIV-03: training accuracy − evaluation accuracy.

    .. math:: \\mathrm{gap} = \\mathrm{Acc}_{train} - \\mathrm{Acc}_{eval}

    0.08 means the model is 8 points more accurate on rows it has seen than on new ones.
    """
    if len(state.data.x_train) == 0 or len(state.data.x_eval) == 0:
        return MetricOutcome(None, reason="needs training and evaluation rows")
    return MetricOutcome(state.accuracy_train - state.accuracy_population,
                         {"train_accuracy": state.accuracy_train, "eval_accuracy": state.accuracy_population})
