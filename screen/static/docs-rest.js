"use strict";
// Swagger UI reads the live contract and builds the page from it.
const root = document.getElementById("swagger-ui");
// The contract names the default addresses; the page offers its own server first, then this run's.
fetch(root.dataset.url).then((answer) => answer.json()).then((spec) => {
  spec.servers = JSON.parse(root.dataset.servers);
  window.ui = SwaggerUIBundle({
    spec,
    domNode: root,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    deepLinking: true,
    // Left unset, Swagger UI shows a badge from validator.swagger.io whenever the page is served
    // under any name but localhost or 127.0.0.1: a request to the outside world.
    validatorUrl: null,
  });
});
