/* The Graph page's SVG: put the Graphviz drawing in the page, turn clicks into dashboard events,
 * highlight the selected node. Graphviz gives every node and cluster a <title> holding its DOT id;
 * the server sends, with the SVG, what each id draws: [kind, side, value]. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  graphscope: {
    showSvg: function (view, canvasId) {
      var canvas = document.getElementById(canvasId);
      if (!canvas || !view) { return window.dash_clientside.no_update; }
      canvas.innerHTML = view.svg || '';
      canvas.gsTargets = view.targets || {};
      var index = {};  // node id -> [side, element]: where the node is drawn (its own box or the chain holding it)
      canvas.querySelectorAll('g.node').forEach(function (g) {
        var title = g.querySelector('title');
        var t = title && canvas.gsTargets[title.textContent];
        if (!t) { return; }
        g.setAttribute('data-gs-kind', t[0]);
        if (t[0] === 'node') { index[t[1] + ':' + t[2]] = g; }
        if (t[0] === 'chain') { t[2].forEach(function (id) { index[t[1] + ':' + id] = index[t[1] + ':' + id] || g; }); }
        if (t[0] === 'scope') { g.setAttribute('data-gs-scope', t[2]); }
        if (t[0] === 'node') { g.setAttribute('data-gs-node', String(t[2])); }
      });
      canvas.querySelectorAll('g.cluster').forEach(function (g) {
        var title = g.querySelector('title');
        var t = title && canvas.gsTargets[title.textContent];
        if (t && t[0] === 'cluster') { g.setAttribute('data-gs-cluster', t[2]); }
      });
      canvas.gsIndex = index;
      if (!canvas.gsListening) {
        canvas.gsListening = true;
        canvas.addEventListener('click', function (ev) {
          var g = ev.target.closest('g.node, g.cluster');
          if (!g) { return; }
          var title = g.querySelector('title');
          var t = title && canvas.gsTargets[title.textContent];
          if (!t) { return; }
          if (t[0] === 'cluster' && ev.target.tagName.toLowerCase() !== 'text') { return; }  // only its title collapses it
          ev.preventDefault();
          window.dash_clientside.set_props('graph-click', {data: {kind: t[0], side: t[1], value: t[2], at: Date.now()}});
        });
      }
      canvas.setAttribute('data-gs-boxes', String(canvas.querySelectorAll('g.node').length));
      return Date.now();
    },
    highlight: function (selected, shownAt, canvasId) {
      var canvas = document.getElementById(canvasId);
      if (!canvas || !canvas.gsIndex) { return window.dash_clientside.no_update; }
      canvas.querySelectorAll('.gs-selected').forEach(function (el) { el.classList.remove('gs-selected'); });
      if (!selected || selected.node === undefined || selected.node === null) { return ''; }
      var id = String(selected.node);
      var el = canvas.gsIndex['a:' + id] || canvas.gsIndex[':' + id] || canvas.gsIndex['b:' + id];
      if (!el) { return ''; }
      el.classList.add('gs-selected');
      if (el.scrollIntoView) { el.scrollIntoView({block: 'nearest', inline: 'nearest'}); }
      return id;
    }
  }
});
