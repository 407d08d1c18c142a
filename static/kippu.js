// HTMX requests carry the CSRF token from the page's <meta>, like the forms do.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["x-csrftoken"] = token.content;
});

// A form with data-confirm asks before it is sent (no inline handlers: the CSP allows none).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset && event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});
