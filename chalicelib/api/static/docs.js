// The /docs page: Swagger UI (vendored in ./swagger-ui, see its README) on this API's /openapi.json.
// Paths are relative to /docs, so the page also works behind API Gateway's stage prefix (/api/docs).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    docExpansion: "none", // grouped by tag, folded: 100+ operations
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 1, // a schema opens on its fields; nested ones stay folded
    defaultModelRendering: "example", // the example first; the schema a click away
    displayOperationId: false,
    filter: true,
    persistAuthorization: false, // an API key is not kept in localStorage
    tryItOutEnabled: false,
    validatorUrl: null, // the public validator would be an outside fetch
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
