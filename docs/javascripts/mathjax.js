// MathJax configuration for pymdownx.arithmatex (generic mode), as mkdocs-material
// documents it. MathJax itself is served by this site (javascripts/vendor/mathjax/,
// installed from npm by mkdocs_hooks.py), never from a CDN.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true
  },
  options: {
    // Typeset only what arithmatex marked, and the table-of-contents and navigation
    // labels (md-ellipsis), where a heading's math arrives as plain "\( ... \)" text.
    ignoreHtmlClass: ".*|",
    processHtmlClass: "arithmatex|md-ellipsis"
  },
  svg: {
    fontCache: "global"
  }
};

// mkdocs-material announces each page on document$; typeset it once MathJax is up.
document$.subscribe(() => {
  MathJax.startup.promise.then(() => {
    MathJax.typesetClear()
    MathJax.texReset()
    return MathJax.typesetPromise()
  })
})
