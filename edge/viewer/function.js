// Viewer-request CloudFront Function (JavaScript runtime 2.0). Stand-in: passes the request on
// unchanged; `tachyon-edge package-stack` inlines this file into stack/edge.yaml.
function handler(event) {
  return event.request;
}
