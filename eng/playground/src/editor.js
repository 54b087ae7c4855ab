// The playground's editor: CodeMirror 6 with Python, bundled (no CDN) as window.ExecutorEditor.
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { Prec } from "@codemirror/state";
import { python } from "@codemirror/lang-python";

/**
 * An editor in `parent` holding `doc`; `onRun` is called on Ctrl+Enter (Cmd+Enter on a Mac). `options.keys` binds more
 * keys ahead of the editor's own (a notebook cell's Shift+Enter), `options.label` names the editor for assistive
 * technology.
 */
export function create(parent, doc, onRun, options = {}) {
  const bindings = [{ key: "Mod-Enter", run: () => { onRun(); return true; } }];
  for (const [key, action] of Object.entries(options.keys || {})) bindings.push({ key, run: () => { action(); return true; } });
  const view = new EditorView({
    doc,
    parent,
    extensions: [
      Prec.highest(keymap.of(bindings)),
      basicSetup,
      python(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": options.label || "Python code" }),
    ],
  });
  return {
    get value() { return view.state.doc.toString(); },
    set value(text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
    focus() { view.focus(); },
  };
}
