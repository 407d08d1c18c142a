// Starts Swagger UI on the API reference page (/schema) with the document its element names.
window.addEventListener("load", () => {
  const element = document.getElementById("swagger-ui");
  window.SwaggerUIBundle({ url: element.dataset.url, domNode: element, deepLinking: true });
});
