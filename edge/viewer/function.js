// Tachyon Edge viewer-request CloudFront Function (JavaScript runtime 2.0).
// Rewrites an image request's query string to the core's canonical form and
// normalises Accept, so equivalent URLs share one cache entry and one
// origin-request invocation. A port of core/args/canonical.py and
// core.formats.normalise_accept; tests/test_viewer_function.py checks that both
// give the same answer. See docs/security.md, "Canonical query".

var KEPT = {};
'w h crop resize fit lb background gravity crop_strategy zoom quality webp format rotate flip flop negative grayscale greyscale strip s preset'
  .split(' ').forEach(function (n) { KEPT[n] = true; });
var ALIASES = { greyscale: 'grayscale' };
var PAIRED = ['resize', 'fit', 'lb'];
var BOOLEANS = ['flip', 'flop', 'negative', 'grayscale', 'webp'];
var TRUE = ['1', 'true', 'yes', 'on'];
var FALSE = ['0', 'false', 'no', 'off'];
var CHOICES = {
  gravity: { center: 'center', centre: 'center', north: 'north', northeast: 'northeast', east: 'east',
    southeast: 'southeast', south: 'south', southwest: 'southwest', west: 'west', northwest: 'northwest' },
  crop_strategy: { entropy: 'entropy', attention: 'attention', smart: 'smart' },
  format: { jpeg: 'jpeg', jpg: 'jpeg', png: 'png', webp: 'webp', avif: 'avif', gif: 'gif' },
  strip: { all: 'all', info: 'info', color: 'color', colour: 'color' }
};
var COLOURS = {};
'aliceblue antiquewhite aqua aquamarine azure beige bisque black transparent blanchedalmond blue blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen'.split(' ').forEach(function (n) { COLOURS[n] = true; });
var MAX_QUERY = 2048; // core.args.canonical.MAX_QUERY
var IMAGE = { jpg: 1, jpeg: 1, jpe: 1, png: 1, gif: 1, webp: 1, avif: 1 };
// Python's str.strip() whitespace.
var WS = '[\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
var STRIP = new RegExp('^' + WS + '+|' + WS + '+$', 'g');
var NUMBER = /^[0-9]+(?:\.[0-9]+)?$/;
var PIXELS = /^([0-9]+)(?:px)?$/;
var HEX = /^#?([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})$/;

function own(table, key) {
  return Object.prototype.hasOwnProperty.call(table, key) ? table[key] : undefined;
}

// urllib.parse.unquote(text.replace('+', ' ')) for valid UTF-8; null where Python would decode U+FFFD.
function decode(text) {
  try { return decodeURIComponent(text.replace(/%(?![0-9A-Fa-f]{2})/g, '%25').replace(/\+/g, ' ')); } catch (e) { return null; }
}

function quote(value) {
  return value.replace(/[^A-Za-z0-9_.~,-]/g, function (c) {
    var h = c.charCodeAt(0).toString(16).toUpperCase();
    return (h.length < 2 ? '%0' : '%') + h;
  });
}

function tooLong(number) {
  return number.split('.')[0].replace(/^0+/, '').length > 9;
}

function boolean(lowered) {
  return TRUE.indexOf(lowered) >= 0 ? '1' : FALSE.indexOf(lowered) >= 0 ? '0' : null;
}

function whole(lowered, low, high) {
  var m = PIXELS.exec(lowered);
  if (!m || tooLong(m[1])) return null;
  var n = parseInt(m[1], 10);
  return n >= low && (high === null || n <= high) ? String(n) : null;
}

function number(text) {
  if (!NUMBER.test(text) || tooLong(text)) return null;
  var parts = text.split('.');
  var w = parts[0].replace(/^0+/, '') || '0';
  var f = (parts[1] || '').replace(/0+$/, '');
  return f ? w + '.' + f : w;
}

function region(lowered) {
  var parts = lowered.split(',');
  if (parts.length !== 4) return null;
  var out = [];
  for (var i = 0; i < 4; i++) {
    var part = parts[i].replace(STRIP, '');
    var px = part.slice(-2) === 'px';
    var n = number(px ? part.slice(0, -2) : part);
    if (n === null || (!px && parseFloat(n) > 100) || (i >= 2 && parseFloat(n) <= 0)) return null;
    out.push(n + (px ? 'px' : ''));
  }
  return out.join(',');
}

function colour(lowered) {
  if (own(COLOURS, lowered)) return lowered;
  var m = HEX.exec(lowered);
  if (!m) return null;
  var d = m[1];
  if (d.length <= 4) d = d.split('').map(function (c) { return c + c; }).join('');
  return d.length === 6 ? d + 'ff' : d;
}

function spelling(name, value) {
  var lowered = value.toLowerCase();
  var out = null;
  if (BOOLEANS.indexOf(name) >= 0) out = boolean(lowered);
  else if (name === 'crop') out = boolean(lowered) || region(lowered);
  else if (name === 'w' || name === 'h') out = whole(lowered, 1, null);
  else if (name === 'quality') out = whole(lowered, 1, 100);
  else if (PAIRED.indexOf(name) >= 0) {
    var parts = value.split(',');
    var sides = parts.map(function (p) { return whole(p.replace(STRIP, '').toLowerCase(), 0, null); });
    if (parts.length === 2 && sides[0] !== null && sides[1] !== null) out = sides.join(',');
  } else if (name === 'zoom') {
    var z = number(value);
    if (z !== null && parseFloat(z) > 0 && parseFloat(z) <= 10) out = z;
  } else if (own(CHOICES, name)) out = own(CHOICES[name], lowered);
  else if (name === 'background') out = colour(lowered);
  return out === null || out === undefined ? value : out;
}

// core.args.canonical.canonical_query: the same string for the same raw query.
function canonicalQuery(query) {
  if (query.length > MAX_QUERY) return query;
  // The last value of a name wins: read from the end, and decode each name's value once.
  var args = {};
  var pieces = query.split('&');
  for (var i = pieces.length - 1; i >= 0; i--) {
    var piece = pieces[i];
    var at = piece.indexOf('=');
    var raw = at < 0 ? piece : piece.slice(0, at);
    // A kept name is ASCII: skip what cannot be one before decoding (39: every byte escaped).
    if (!piece || raw.length > 39 || /%[89A-Fa-f]|\+/.test(raw)) continue;
    var name = raw.indexOf('%') < 0 ? raw : decode(raw);
    if (name === null || !own(KEPT, name)) continue;
    name = own(ALIASES, name) || name;
    if (own(args, name) !== undefined) continue;
    var value = decode(at < 0 ? '' : piece.slice(at + 1));
    args[name] = value === null ? null : value.replace(STRIP, '');
  }
  var names = Object.keys(args).filter(function (n) { return args[n] !== ''; });
  for (var j = 0; j < names.length; j++) {
    if (args[names[j]] === null || /[^\x00-\x7f]/.test(args[names[j]])) return query;
  }
  var first = PAIRED.filter(function (n) { return names.indexOf(n) >= 0; })[0];
  var shadowed = first ? PAIRED.concat(['w', 'h']).filter(function (n) { return n !== first; }) : [];
  if (names.indexOf('format') >= 0) shadowed.push('webp');
  return names.filter(function (n) { return shadowed.indexOf(n) < 0; }).sort().map(function (n) {
    return n + '=' + quote(spelling(n, args[n]));
  }).join('&');
}

// core.formats.normalise_accept: the formats auto-format can choose, in a fixed order.
function normaliseAccept(accept) {
  var lowered = (accept || '').toLowerCase();
  return ['image/avif', 'image/webp'].filter(function (t) { return lowered.indexOf(t) >= 0; }).join(',');
}

// core.formats.format_of_path on the URI as received.
function isImage(uri) {
  var name = uri.split('/').pop();
  var dot = name.lastIndexOf('.');
  return dot >= 0 && own(IMAGE, name.slice(dot + 1).toLowerCase()) === 1;
}

function handler(event) {
  var request = event.request;
  if (!isImage(request.uri || '')) return request;
  var accept = request.headers.accept;
  request.headers.accept = { value: normaliseAccept(accept ? accept.value : '') };
  var qs = request.querystring || {};
  // The object keeps each name's values in order, not the order across names, which
  // decides between the two spellings of one argument: leave such a query as sent.
  if (own(qs, 'grayscale') && own(qs, 'greyscale')) return request;
  var raw = [];
  Object.keys(qs).forEach(function (n) {
    (qs[n].multiValue || [qs[n]]).forEach(function (v) { raw.push(n + '=' + v.value); });
  });
  var query = raw.join('&');
  var canonical = canonicalQuery(query);
  if (canonical === query) return request;
  var out = {};
  canonical.split('&').forEach(function (piece) {
    var at = piece.indexOf('=');
    if (at > 0) out[piece.slice(0, at)] = { value: piece.slice(at + 1) };
  });
  request.querystring = out;
  return request;
}
