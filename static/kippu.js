// HTMX requests carry the CSRF token from the page's <meta>, like the forms do.
document.addEventListener("htmx:configRequest", (event) => {
  const token = document.querySelector('meta[name="csrf-token"]');
  if (token) event.detail.headers["x-csrftoken"] = token.content;
});
