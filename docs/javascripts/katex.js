// Render the \( \) and \[ \] spans that pymdownx.arithmatex leaves, on every page
// (including pages reached by instant navigation).  KaTeX itself is loaded from a CDN.
document$.subscribe(() => {
  if (typeof renderMathInElement === "undefined") { return; }
  renderMathInElement(document.body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "\\[", right: "\\]", display: true },
      { left: "\\(", right: "\\)", display: false },
    ],
  });
});
