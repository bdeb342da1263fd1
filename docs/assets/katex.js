// Render the \( … \) and \[ … \] spans that pymdownx.arithmatex (generic: true) writes, with the
// KaTeX vendored in docs/assets/katex/ (no CDN: the site works offline). document$ is Material's
// page observable: it fires on the first load and after each instant-navigation page switch.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
    throwOnError: false,
  });
});
