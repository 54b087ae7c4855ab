// The playground's editor: CodeMirror 6 with Python, bundled (no CDN) as window.ExecutorEditor.
import { EditorView, basicSetup } from "codemirror";
import { keymap } from "@codemirror/view";
import { Prec } from "@codemirror/state";
import { python } from "@codemirror/lang-python";

/** An editor in `parent` holding `doc`; `onRun` is called on Ctrl+Enter (Cmd+Enter on a Mac). */
export function create(parent, doc, onRun) {
  const run = keymap.of([{ key: "Mod-Enter", run: () => { onRun(); return true; } }]);
  const view = new EditorView({
    doc,
    parent,
    extensions: [
      Prec.highest(run),
      basicSetup,
      python(),
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ "aria-label": "Python code" }),
    ],
  });
  return {
    get value() { return view.state.doc.toString(); },
    set value(text) { view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } }); },
    focus() { view.focus(); },
  };
}
