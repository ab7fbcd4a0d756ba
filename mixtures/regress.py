"""Regressions over proxy runs: mixture weights -> objective. The default for a few dozen runs is a
log-share law per domain (bpb_i(w) = a_i + b_i . w + c_i * log(w_i + eps), a ridge regression),
combined with the objective's weights; for comparison, the log-linear mixing law of Data Mixing Laws
(bpb_i(w) = c_i + k_i * exp(t_i . w)) and scikit-learn gradient boosting on the objective. Also:
cross-validated Spearman on held-out runs, and a search of the simplex for the best predicted
mixture under the repetition caps."""
from __future__ import annotations

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import spearmanr


class MixingLaw:
    """Per-domain c + k * exp(t . w); predicts the objective as sum_i obj_w[i] * bpb_i."""

    def __init__(self, obj_weights):
        self.obj_weights = np.asarray(obj_weights, dtype=float)

    def fit(self, W, B):
        W, B = np.asarray(W, float), np.asarray(B, float)
        self.params = []
        for i in range(B.shape[1]):
            y = B[:, i]
            c0 = 0.9 * y.min()
            A = np.c_[np.ones(len(W)), W]
            coef = np.linalg.lstsq(A, np.log(np.maximum(y - c0, 1e-6)), rcond=None)[0]
            x0 = np.r_[c0, coef[0], coef[1:]]

            def resid(p, y=y):
                return p[0] + np.exp(p[1] + W @ p[2:]) - y
            lo = np.r_[0.0, -np.inf, np.full(W.shape[1], -np.inf)]
            hi = np.r_[max(y.min(), 1e-9), np.inf, np.full(W.shape[1], np.inf)]
            x0[0] = min(max(x0[0], lo[0]), hi[0] * 0.999)
            self.params.append(least_squares(resid, x0, bounds=(lo, hi), max_nfev=2000).x)
        return self

    def predict_domains(self, W):
        W = np.asarray(W, float)
        return np.stack([p[0] + np.exp(p[1] + W @ p[2:]) for p in self.params], axis=1)

    def predict(self, W):
        return self.predict_domains(W) @ self.obj_weights


class LogShareLaw:
    """Per domain, bpb_i = a_i + b_i . w + c_i * log(w_i + eps): linear in the shares, plus the log
    of the domain's own share. A domain's loss falls about log-linearly in its own tokens and climbs
    steeply as its share nears zero, a bend exp(t . w) cannot follow over a wide sweep; the other
    domains act on it linearly. Fitted by scikit-learn's ridge regression, whose small penalty also
    settles the shares' summing to one. `eps` floors the log: below about 1 % of the mix a proxy
    learns little more of a domain than the others teach it."""

    def __init__(self, obj_weights, eps=1e-2, alpha=1e-2):
        self.obj_weights = np.asarray(obj_weights, dtype=float)
        self.eps, self.alpha = eps, alpha

    def _features(self, W, i):
        return np.c_[W, np.log(W[:, i] + self.eps)]

    def fit(self, W, B):
        from sklearn.linear_model import Ridge
        W, B = np.asarray(W, float), np.asarray(B, float)
        self.models = [Ridge(alpha=self.alpha).fit(self._features(W, i), B[:, i]) for i in range(B.shape[1])]
        return self

    def predict_domains(self, W):
        W = np.asarray(W, float)
        return np.stack([m.predict(self._features(W, i)) for i, m in enumerate(self.models)], axis=1)

    def predict(self, W):
        return self.predict_domains(W) @ self.obj_weights


class Boosting:
    """scikit-learn gradient boosting on the objective directly."""

    def __init__(self, obj_weights, seed=0):
        from sklearn.ensemble import GradientBoostingRegressor
        self.obj_weights = np.asarray(obj_weights, float)
        self.model = GradientBoostingRegressor(n_estimators=200, max_depth=2, learning_rate=0.05,
                                               subsample=0.8, random_state=seed)

    def fit(self, W, B):
        self.model.fit(np.asarray(W, float), np.asarray(B, float) @ self.obj_weights)
        return self

    def predict(self, W):
        return self.model.predict(np.asarray(W, float))


REGRESSORS = {"log_share_law": LogShareLaw, "mixing_law": MixingLaw, "gradient_boosting": Boosting}
PER_DOMAIN = ("log_share_law", "mixing_law")   # the regressors that predict each domain's bpb
DEFAULT = "log_share_law"


def _out_of_fold(W, B, fit_predict, folds, seed):
    """Out-of-fold predictions: K-fold (K <= runs, a fixed permutation of the runs by `seed`), each
    fold predicted by fit_predict(W_train, B_train, W_test)."""
    W, B = np.asarray(W, float), np.asarray(B, float)
    n = len(W)
    k = max(2, min(folds, n))
    perm = np.random.default_rng(seed).permutation(n)
    pred = None
    for f in range(k):
        test = perm[f::k]
        train = np.setdiff1d(perm, test)
        p = fit_predict(W[train], B[train], W[test])
        if pred is None:
            pred = np.empty((n,) + np.shape(p)[1:])
        pred[test] = p
    return pred


def spearman(a, b) -> float:
    rho = spearmanr(a, b).statistic
    return float(rho) if np.isfinite(rho) else 0.0


def cv_spearman(name, W, B, obj_weights, folds=5, seed=0):
    """Spearman of out-of-fold predictions against the actual objectives (K-fold, K <= runs)."""
    pred = _out_of_fold(W, B, lambda w, b, wt: REGRESSORS[name](obj_weights).fit(w, b).predict(wt),
                        folds, seed)
    return spearman(pred, np.asarray(B, float) @ np.asarray(obj_weights, float)), pred


FOLD_ASSIGNMENTS = 10


def cv_spearman_range(name, W, B, obj_weights, folds=5, seed=0, assignments=FOLD_ASSIGNMENTS):
    """`cv_spearman` over `assignments` fold assignments (seeds seed, seed + 1, ...; the first is
    the one `cv_spearman` reports): {min, median, max, assignments}. With a few dozen runs one
    assignment moves the figure by several hundredths (32 runs: 0.86 to 0.92 on one sweep), so a
    single number hides how far it can be trusted."""
    rhos = [cv_spearman(name, W, B, obj_weights, folds, seed + a)[0] for a in range(assignments)]
    return {"min": float(np.min(rhos)), "median": float(np.median(rhos)), "max": float(np.max(rhos)),
            "assignments": int(assignments)}


def cv_spearman_domains(W, B, domains, name=DEFAULT, folds=5, seed=0):
    """Per domain: Spearman of a per-domain law's out-of-fold bits per byte against the actual ones
    (RegMix's measure: one validation loss at a time), with the same folds as `cv_spearman`."""
    B = np.asarray(B, float)
    if name not in PER_DOMAIN:
        raise ValueError(f"{name} does not predict each domain; one of {PER_DOMAIN} does")
    pred = _out_of_fold(W, B, lambda w, b, wt: REGRESSORS[name](np.ones(B.shape[1])).fit(w, b).predict_domains(wt),
                        folds, seed)
    return {d: spearman(pred[:, j], B[:, j]) for j, d in enumerate(domains)}


def feasible(W, max_share):
    """Mixtures whose every domain stays within its largest allowed share (the repetition cap)."""
    return np.all(np.asarray(W) <= np.asarray(max_share)[None, :] + 1e-12, axis=1)


def search(model, target, max_share, n=100_000, seed=0, concentration=(1.0, 20.0), bounds=None):
    """The best predicted mixture among n simulated ones (half near the target, half over the
    whole simplex), plus the target itself, under the caps. `bounds` = (low[D], high[D]) keeps the
    search where runs were observed (a fit over a few runs must not be trusted far outside them)."""
    rng = np.random.default_rng([seed, 0x5EA7C4])
    target = np.asarray(target, float)
    half = n // 2
    cands = np.vstack([rng.dirichlet(np.full(len(target), concentration[0]), size=n - half),
                       rng.dirichlet(np.maximum(target * concentration[1], 1e-3), size=half), target[None, :]])
    ok = feasible(cands, max_share)
    if bounds is not None:
        lo, hi = (np.asarray(b, float) for b in bounds)
        ok &= np.all((cands >= lo[None, :] - 1e-12) & (cands <= hi[None, :] + 1e-12), axis=1)
        ok[-1] = feasible(target[None, :], max_share)[0]
    cands = cands[ok]
    pred = model.predict(cands)
    i = int(np.argmin(pred))
    return cands[i], float(pred[i]), int(len(cands))
