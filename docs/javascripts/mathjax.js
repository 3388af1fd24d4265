// MathJax 3 for pymdownx.arithmatex (generic mode): typeset \( \) and \[ \] in .arithmatex
window.MathJax = {
  tex: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]],
        processEscapes: true, processEnvironments: true},
  options: {ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex"},
};
document$.subscribe(() => { MathJax.typesetPromise && MathJax.typesetPromise(); });
