"""What Python Workers reach through Pyodide's FFI, emulated over edge's own objects.

`values` (JavaScript values as Python sees them), `convert` (`to_js`, `create_proxy`...),
`blocking` (`run_sync`), `js` (the JavaScript globals), `http` (`pyfetch`), and
`modules`, which builds the `js` / `pyodide` modules that `emulator.sdk.runtime_modules`
lets workers import. docs/ffi.md lists what is emulated.
"""
