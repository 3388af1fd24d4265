# ruff: noqa: E501, E701, E702, B023, E402  (a table of one-line functions)
"""A longer correctness sweep: ~120 jnp / lax / jax.scipy / jax.nn functions of a small network
(special functions, linear algebra, pooling, padding, FFTs, sorting, control flow, complex
intermediates, ties), each differentiated by nestax (Laplacian, biharmonic, a third-order mixed
partial with auto / taylor / collapsed, and the Hessian with auto) and compared with nested
``jax.jacfwd`` in float64. Prints one line per function: ``ok``, ``refused`` (an explicit method
declined with nestax's named error), or what differed. Takes ~5-10 minutes on 2 CPU cores.

    .venv/bin/python scripts/primitive_sweep.py [name ...]

Expected: every line ``ok`` except ``float32_cast`` (a float32 intermediate: nestax and nested
AD round differently at float32 precision, ~1e-7 relative).
"""

import sys

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)
from jax import lax

import nestax as nx

W = jnp.array([[0.3,-0.5,0.8,0.1],[0.7,0.2,-0.4,0.5],[-0.6,0.9,0.3,-0.2]])
def h(x): return jnp.tanh(x @ W + 0.1)
F = {
 "tan": lambda x: jnp.sum(jnp.tan(0.3*h(x))),
 "asin": lambda x: jnp.sum(jnp.arcsin(0.5*h(x))),
 "acos": lambda x: jnp.sum(jnp.arccos(0.5*h(x))),
 "asinh": lambda x: jnp.sum(jnp.arcsinh(h(x))),
 "acosh": lambda x: jnp.sum(jnp.arccosh(2+h(x))),
 "atanh": lambda x: jnp.sum(jnp.arctanh(0.5*h(x))),
 "expm1": lambda x: jnp.sum(jnp.expm1(h(x))),
 "log1p": lambda x: jnp.sum(jnp.log1p(0.5*h(x))),
 "lgamma": lambda x: jnp.sum(jax.scipy.special.gammaln(2+h(x))),
 "digamma": lambda x: jnp.sum(jax.scipy.special.digamma(2+h(x))),
 "erfinv": lambda x: jnp.sum(jax.scipy.special.erfinv(0.5*h(x))),
 "erfc": lambda x: jnp.sum(jax.scipy.special.erfc(h(x))),
 "logistic": lambda x: jnp.sum(lax.logistic(h(x))),
 "integer_pow": lambda x: jnp.sum(lax.integer_pow(h(x), 5)),
 "integer_pow_neg": lambda x: jnp.sum(lax.integer_pow(2+h(x), -3)),
 "pow_const": lambda x: jnp.sum((2+h(x))**2.5),
 "pow_x": lambda x: jnp.sum((2+h(x))**h(x)),
 "exp2": lambda x: jnp.sum(jnp.exp2(h(x))),
 "log2": lambda x: jnp.sum(jnp.log2(2+h(x))),
 "square": lambda x: jnp.sum(lax.square(h(x))),
 "rsqrt": lambda x: jnp.sum(lax.rsqrt(2+h(x))),
 "cbrt": lambda x: jnp.sum(jnp.cbrt(2+h(x))),
 "norm2": lambda x: jnp.linalg.norm(h(x)),
 "norm_fro": lambda x: jnp.linalg.norm(jnp.outer(h(x), x)),
 "norm_inf": lambda x: jnp.linalg.norm(h(x), ord=jnp.inf),
 "norm1": lambda x: jnp.linalg.norm(h(x)+2, ord=1),
 "dynamic_slice": lambda x: jnp.sum(jnp.sin(lax.dynamic_slice(h(x), (1,), (2,)))),
 "dyn_update": lambda x: jnp.sum(jnp.sin(lax.dynamic_update_slice(h(x), x[:2]**2, (1,)))),
 "take_along": lambda x: jnp.sum(jnp.take_along_axis(h(x), jnp.array([3,0,1]), 0)**2),
 "pad": lambda x: jnp.sum(jnp.sin(jnp.pad(h(x), (2,1), constant_values=0.3))*jnp.arange(7.)),
 "pad_edge": lambda x: jnp.sum(jnp.sin(jnp.pad(h(x), (2,1), mode="edge"))*jnp.arange(7.)),
 "pad_reflect": lambda x: jnp.sum(jnp.sin(jnp.pad(h(x), (2,1), mode="reflect"))*jnp.arange(7.)),
 "conv1d": lambda x: jnp.sum(jnp.tanh(jnp.convolve(h(x), jnp.array([0.2,-0.5,0.7])))),
 "conv_general": lambda x: jnp.sum(jnp.tanh(lax.conv_general_dilated(h(x).reshape(1,1,4), jnp.array([[[0.2,-0.5]]]), (1,), "SAME"))),
 "maxpool": lambda x: jnp.sum(lax.reduce_window(h(x)**2, -jnp.inf, lax.max, (2,), (1,), "VALID")),
 "avgpool": lambda x: jnp.sum(jnp.sin(lax.reduce_window(h(x), 0.0, lax.add, (2,), (1,), "VALID"))),
 "argmax_take": lambda x: h(x)[jnp.argmax(h(x))]**3,
 "top_k": lambda x: jnp.sum(lax.top_k(h(x), 2)[0]**2),
 "median": lambda x: jnp.median(h(x))**2,
 "quantile": lambda x: jnp.quantile(h(x), 0.3)**2,
 "cumlogsumexp": lambda x: jnp.sum(lax.cumlogsumexp(h(x))),
 "cummin": lambda x: jnp.sum(lax.cummin(h(x))**2),
 "reduce_prod": lambda x: jnp.prod(1.5+h(x)),
 "reduce_min": lambda x: jnp.min(h(x)**2 + x[0]),
 "argsort": lambda x: jnp.sum(h(x)[jnp.argsort(h(x))]*jnp.arange(4.)),
 "einsum3": lambda x: jnp.einsum("i,j,ij->", h(x), h(x), jnp.outer(h(x), jnp.sin(h(x)))),
 "matmul_self": lambda x: jnp.sum(jnp.tanh(jnp.outer(h(x), h(x)) @ h(x))),
 "inv": lambda x: jnp.sum(jnp.linalg.inv(jnp.eye(4)*3 + jnp.outer(h(x), h(x)))),
 "cholesky": lambda x: jnp.sum(jnp.linalg.cholesky(jnp.eye(4)*3 + jnp.outer(h(x), h(x)))),
 "qr": lambda x: jnp.sum(jnp.abs(jnp.diag(jnp.linalg.qr(jnp.eye(4)*3 + jnp.outer(h(x), x[:1].repeat(4)))[1]))),
 "eigh": lambda x: jnp.sum(jnp.linalg.eigvalsh(jnp.diag(jnp.arange(4.)) + 0.3*jnp.outer(h(x), h(x)))**2),
 "svd": lambda x: jnp.sum(jnp.linalg.svd(jnp.diag(jnp.arange(1.,5.)) + 0.3*jnp.outer(h(x), h(x)), compute_uv=False)),
 "triangular_solve": lambda x: jnp.sum(jax.scipy.linalg.solve_triangular(jnp.eye(4)*3 + jnp.tril(jnp.outer(h(x), h(x))), h(x), lower=True)),
 "expm": lambda x: jnp.sum(jax.scipy.linalg.expm(0.3*jnp.outer(h(x), h(x)))),
 "logsumexp_b": lambda x: jax.nn.logsumexp(h(x), b=jnp.array([1.,2.,0.5,1.])),
 "softmax_where": lambda x: jnp.sum(jax.nn.softmax(h(x), where=jnp.array([True,False,True,True]))**2),
 "one_hot_mix": lambda x: jnp.sum(jax.nn.one_hot(2, 4) * h(x)**2),
 "clip_grad": lambda x: jnp.sum(jnp.clip(h(x), -0.2, 0.3)**2),
 "where_nan_safe": lambda x: jnp.sum(jnp.where(h(x) > 0, jnp.sqrt(jnp.where(h(x) > 0, h(x), 1.0)), h(x)**2)),
 "remat_policy": lambda x: jnp.sum(jax.checkpoint(lambda z: jnp.sin(z)**2, policy=jax.checkpoint_policies.nothing_saveable)(h(x))),
 "nested_vmap": lambda x: jnp.sum(jax.vmap(lambda r: jnp.tanh(r @ x))(jnp.eye(3)+0.1)),
 "inner_grad": lambda x: jnp.sum(jax.grad(lambda z: jnp.sum(jnp.sin(z)**2))(h(x))),
 "inner_jvp": lambda x: jax.jvp(lambda z: jnp.sum(jnp.tanh(z)**3), (h(x),), (h(x),))[1],
 "fori_dynamic": lambda x: lax.fori_loop(0, 3, lambda i, c: c + jnp.sin(c*i), h(x)).sum(),
 "scan_rev": lambda x: lax.scan(lambda c, w: (jnp.tanh(c*w), c.sum()), h(x), jnp.array([0.5, 1.2]), reverse=True)[0].sum(),
 "switch": lambda x: lax.switch(1, [jnp.sin, jnp.cos, jnp.tanh], h(x)).sum(),
 "select_n": lambda x: jnp.sum(lax.select_n(jnp.array([0,1,2,1]), h(x), h(x)**2, jnp.sin(h(x)))),
 "sort_multi": lambda x: jnp.sum(lax.sort((h(x), h(x)**2), num_keys=1)[1]*jnp.arange(4.)),
 "complex_mul": lambda x: jnp.sum(jnp.abs(jnp.exp(1j*h(x)) * (1+2j))**2 + jnp.real(jnp.exp(1j*h(x))*h(x))),
 "complex_angle": lambda x: jnp.sum(jnp.angle(h(x)+1j*(1+h(x)**2))),
 "fft_abs": lambda x: jnp.sum(jnp.abs(jnp.fft.fft(h(x)))**2),
 "rfft": lambda x: jnp.sum(jnp.real(jnp.fft.rfft(h(x)))**3),
 "reduce_precision": lambda x: jnp.sum(lax.reduce_precision(h(x), 11, 52)**2),
 "copy": lambda x: jnp.sum(jnp.copy(h(x))**3),
 "nextafter_stop": lambda x: jnp.sum(jnp.round(h(x)*3)/3 + jnp.sin(h(x))),
 "is_finite": lambda x: jnp.sum(jnp.where(jnp.isfinite(h(x)), h(x)**3, 0.)),
 "max_ties": lambda x: jnp.sum(jnp.maximum(x, x)**3 + jnp.max(jnp.stack([x, x]), 0)**2),
 "abs_tie0": lambda x: jnp.sum(jnp.abs(x - x) + x**2),
 "sign": lambda x: jnp.sum(jnp.sign(h(x))*h(x)**3),
 "hypot": lambda x: jnp.sum(jnp.hypot(h(x), 0.5 + x[0])),
 "logaddexp2": lambda x: jnp.sum(jnp.logaddexp2(h(x), 0.3)),
 "xlogy": lambda x: jnp.sum(jax.scipy.special.xlogy(1+h(x), 2+h(x))),
 "xlog1py": lambda x: jnp.sum(jax.scipy.special.xlog1py(h(x), 1+h(x))),
 "entr": lambda x: jnp.sum(jax.scipy.special.entr(1.2+h(x))),
 "i0e": lambda x: jnp.sum(jax.scipy.special.i0e(h(x))),
 "i1e": lambda x: jnp.sum(jax.scipy.special.i1e(h(x))),
 "ndtri": lambda x: jnp.sum(jax.scipy.special.ndtri(0.5+0.3*h(x))),
 "logit": lambda x: jnp.sum(jax.scipy.special.logit(0.5+0.3*h(x))),
 "gelu_tanh": lambda x: jnp.sum(jax.nn.gelu(h(x))),
 "glu": lambda x: jnp.sum(jax.nn.glu(h(x))),
 "squareplus": lambda x: jnp.sum(jax.nn.squareplus(h(x))),
 "sparse_plus": lambda x: jnp.sum(jax.nn.sparse_plus(2*h(x))),
 "standardize": lambda x: jnp.sum(jax.nn.standardize(h(x))**3),
 "polyval": lambda x: jnp.sum(jnp.polyval(jnp.array([1., -2., 0.5, 3.]), h(x))),
 "interp": lambda x: jnp.sum(jnp.interp(h(x), jnp.linspace(-1, 1, 5), jnp.array([0., 1., 0.5, 2., 1.]))),
 "cross": lambda x: jnp.sum(jnp.cross(x, jnp.sin(x))**2),
 "kron": lambda x: jnp.sum(jnp.tanh(jnp.kron(h(x), x))),
 "tril_sum": lambda x: jnp.sum(jnp.tril(jnp.outer(h(x), h(x)))**2),
 "trace": lambda x: jnp.trace(jnp.outer(h(x), h(x)) @ jnp.outer(h(x), h(x))),
 "meshgrid_like": lambda x: jnp.sum(jnp.sin(x[:, None] * x[None, :] + jnp.arange(3.)[None, :])),
 "rot90": lambda x: jnp.sum(jnp.rot90(jnp.outer(h(x), x))*jnp.arange(12.).reshape(3,4)),
 "tile": lambda x: jnp.sum(jnp.sin(jnp.tile(h(x), 2)) * jnp.arange(8.)),
 "expand_squeeze": lambda x: jnp.sum(jnp.squeeze(jnp.expand_dims(h(x), (0, 2)))**3),
 "float32_cast": lambda x: jnp.sum(jnp.sin(h(x)).astype(jnp.float32).astype(jnp.float64)**2),
 "erf_inv_pair": lambda x: jnp.sum(lax.erf_inv(0.3*h(x))),
 "atan2_xx": lambda x: jnp.sum(jnp.arctan2(h(x), 1+h(x)**2)),
 "rem": lambda x: jnp.sum(jnp.remainder(3*h(x)+5, 1.3)**2),
 "fmod": lambda x: jnp.sum(jnp.fmod(3*h(x), 1.3)**2),
 "nan_to_num": lambda x: jnp.sum(jnp.nan_to_num(h(x))**3),
 "bessel_j0_like": lambda x: jnp.sum(jnp.i0(h(x))),
 "sinc_tie": lambda x: jnp.sum(jnp.sinc(x - x)) + jnp.sum(jnp.sinc(h(x))),
 "logdet_chol": lambda x: 2*jnp.sum(jnp.log(jnp.diag(jnp.linalg.cholesky(jnp.eye(4)*2 + jnp.outer(h(x), h(x)))))),
}
xs = jnp.array([0.3, -0.7, 0.5])
methods_lap = ["auto", "taylor", "collapsed"]
methods_bih = ["auto", "taylor", "collapsed"]
def hess_ref(f, x): return jax.jacfwd(jax.jacfwd(f))(x)
def ok(a, b): return np.allclose(np.asarray(a), np.asarray(b), rtol=1e-7, atol=1e-8*(1+np.max(np.abs(np.asarray(b)))))
only = sys.argv[1:]
for name, f in F.items():
    if only and name not in only: continue
    try:
        H = hess_ref(f, xs); ref_l = jnp.trace(H)
        T4 = jax.jacfwd(jax.jacfwd(jax.jacfwd(jax.jacfwd(f))))(xs); ref_b = jnp.einsum("iijj->", T4)
        T3 = jax.jacfwd(jax.jacfwd(jax.jacfwd(f)))(xs); ref_p = T3[0,0,1]
    except Exception as e:
        print(f"{name:18s} REF-FAIL {type(e).__name__}: {str(e)[:80]}"); continue
    res = []
    for op, ref, call in [("lap", ref_l, lambda m: nx.laplacian(f, method=m)(xs)),
                          ("bih", ref_b, lambda m: nx.apply(nx.Biharmonic(), f, method=m)(xs)),
                          ("p3", ref_p, lambda m: nx.partial(f, (2,1,0), method=m)(xs)),
                          ("hess", H, lambda m: nx.hessian(f, method=m)(xs))]:
        for m in (methods_lap if op != "hess" else ["auto"]):
            try:
                v = call(m)
                if not ok(v, ref): res.append(f"WRONG {op}/{m} {np.asarray(v).ravel()[:2]} vs {np.asarray(ref).ravel()[:2]}")
            except nx.MethodNotApplicableError as e:
                if m == "auto": res.append(f"AUTO-FAIL {op}: {str(e)[:100]}")
                else: res.append(f"refused {op}/{m}")
            except Exception as e:
                res.append(f"CRASH {op}/{m} {type(e).__name__}: {str(e)[:120]}")
    bad = [r for r in res if not r.startswith("refused")]
    print(f"{name:18s}", "ok" if not res else ("; ".join(res[:4]) if bad else f"(refused: {len(res)})"), flush=True)
