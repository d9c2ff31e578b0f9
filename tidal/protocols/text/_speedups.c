/* tidal.protocols.text._speedups: split_newlines, text cut at "\n" with memchr.
 *
 * Theory of operation.  str.split("\n") and str.splitlines() compare every
 * character in a plain loop (CPython's stringlib notes that memchr made no
 * difference for it, which holds for short pieces).  Log and HTTP lines are
 * tens to hundreds of characters, and there memchr, which tests 16 or 32
 * bytes per step, finds each "\n" in a fraction of the instructions.  Each
 * line is then made with PyUnicode_Substring, as str.split makes its parts;
 * with `keepends` the "\n" is part of that same substring (no concatenation).
 *
 * split_newlines(text, keepends) returns the pieces of text.split("\n") --
 * so the last item is what follows the last "\n", possibly "" -- with "\n"
 * kept at the end of every other item when keepends is true.  1-byte strings
 * (ASCII and Latin-1) use memchr; 2- and 4-byte strings a plain loop.
 * The Python equivalent is in _lines.py; tests compare the two.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* Index of the next "\n" in text[start:length], or -1. */
static Py_ssize_t
find_newline(int kind, const void *data, Py_ssize_t start, Py_ssize_t length)
{
    if (kind == PyUnicode_1BYTE_KIND) {
        const Py_UCS1 *base = (const Py_UCS1 *)data;
        const Py_UCS1 *found = memchr(base + start, '\n', (size_t)(length - start));
        return found == NULL ? -1 : (Py_ssize_t)(found - base);
    }
    if (kind == PyUnicode_2BYTE_KIND) {
        const Py_UCS2 *chars = (const Py_UCS2 *)data;
        for (Py_ssize_t index = start; index < length; index++) {
            if (chars[index] == '\n') {
                return index;
            }
        }
        return -1;
    }
    const Py_UCS4 *chars = (const Py_UCS4 *)data;
    for (Py_ssize_t index = start; index < length; index++) {
        if (chars[index] == '\n') {
            return index;
        }
    }
    return -1;
}

static int
append_piece(PyObject *list, PyObject *text, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *piece = PyUnicode_Substring(text, start, end);
    if (piece == NULL) {
        return -1;
    }
    int status = PyList_Append(list, piece);
    Py_DECREF(piece);
    return status;
}

static PyObject *
split_newlines(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "split_newlines(text, keepends) takes exactly 2 arguments");
        return NULL;
    }
    PyObject *text = args[0];
    if (!PyUnicode_Check(text)) {
        PyErr_Format(PyExc_TypeError, "split_newlines() needs a str, not %.100s", Py_TYPE(text)->tp_name);
        return NULL;
    }
    int keepends = PyObject_IsTrue(args[1]);
    if (keepends < 0) {
        return NULL;
    }
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(text) < 0) {
        return NULL;
    }
#endif
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    Py_ssize_t start = 0;
    for (;;) {
        Py_ssize_t newline = find_newline(kind, data, start, length);
        if (newline < 0) {
            break;
        }
        if (append_piece(list, text, start, keepends ? newline + 1 : newline) < 0) {
            Py_DECREF(list);
            return NULL;
        }
        start = newline + 1;
    }
    if (append_piece(list, text, start, length) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyMethodDef speedups_methods[] = {
    {"split_newlines", (PyCFunction)(void (*)(void))split_newlines, METH_FASTCALL,
     "split_newlines(text, keepends) -> text.split('\\n'), with '\\n' kept on every piece but the last if keepends."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tidal.protocols.text._speedups",
    .m_doc = "Optional C speedups for tidal.protocols.text (see _lines.py).",
    .m_size = -1,
    .m_methods = speedups_methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    return PyModule_Create(&speedups_module);
}
