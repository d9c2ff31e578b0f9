/* tidal.streams._speedups: QueueIterator, an async iterator over a deque that
 * an async callback refills.
 *
 * Theory of operation.  `async for line in text` hands out one queued item
 * per step, and almost every step finds the item already queued.  Written as
 * an async generator, each such step costs CPython 3.11 an `asend` object, a
 * resumed generator frame and a StopIteration raised and caught to carry the
 * item out (about 700 instructions).  This type is its own awaitable and
 * implements `am_send`, so the interpreter's SEND gets a queued item back as
 * a plain return value: no frame, no exception, no allocation.
 *
 * When the deque is empty, `refill()` is called; it returns an awaitable
 * (a coroutine) that queues more items and finishes with True, or finishes
 * with False at the end.  That awaitable is driven from inside this object's
 * send/throw/close, so whatever it yields (a Future) goes up to the task and
 * whatever the task sends or throws (a cancellation) goes down to it, as
 * `await` would do.  Items stay in the caller's deque until handed out, so a
 * consumer that stops iterating loses nothing.
 *
 * The pure-Python equivalent is tidal/streams/_queue_iter.py's
 * `_iterate_queue`; both pass the same tests.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *queue;    /* collections.deque */
    PyObject *popleft;  /* queue.popleft, bound once */
    PyObject *refill;   /* callable -> awaitable of bool */
    PyObject *closer;   /* callable -> awaitable, for aclose() */
    PyObject *pending;  /* the refill awaitable's iterator being driven, or NULL */
    int closed;         /* refill said False or raised, or aclose(): StopAsyncIteration from now on */
} QueueIterator;

static PyTypeObject QueueIterator_Type;

/* The iterator to drive for `awaitable`: a coroutine itself, else what its
 * __await__ returns (public API only, so the module builds on any 3.x). */
static PyObject *
qi_await_iter(PyObject *awaitable)
{
    if (PyCoro_CheckExact(awaitable)) {
        Py_INCREF(awaitable);
        return awaitable;
    }
    PyAsyncMethods *am = Py_TYPE(awaitable)->tp_as_async;
    if (am == NULL || am->am_await == NULL) {
        PyErr_Format(PyExc_TypeError, "refill() must return an awaitable, not %.100s", Py_TYPE(awaitable)->tp_name);
        return NULL;
    }
    PyObject *iterator = am->am_await(awaitable);
    if (iterator != NULL && !PyIter_Check(iterator)) {
        PyErr_Format(PyExc_TypeError, "__await__() returned non-iterator of type '%.100s'", Py_TYPE(iterator)->tp_name);
        Py_CLEAR(iterator);
    }
    return iterator;
}

/* The value of the StopIteration being raised (None if it has none); clears it. */
static int
qi_fetch_stop_value(PyObject **value)
{
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    PyObject *result = NULL;
    if (exc != NULL) {
        result = PyObject_GetAttrString(exc, "value");
    }
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    if (result == NULL) {
        return -1;
    }
    *value = result;
    return 0;
}

static int
qi_init(QueueIterator *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"queue", "refill", "closer", NULL};
    PyObject *queue, *refill, *closer;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO:QueueIterator", kwlist, &queue, &refill, &closer)) {
        return -1;
    }
    if (!PyCallable_Check(refill) || !PyCallable_Check(closer)) {
        PyErr_SetString(PyExc_TypeError, "refill and closer must be callable");
        return -1;
    }
    PyObject *popleft = PyObject_GetAttrString(queue, "popleft");
    if (popleft == NULL) {
        return -1;
    }
    Py_INCREF(queue);
    Py_INCREF(refill);
    Py_INCREF(closer);
    Py_XSETREF(self->queue, queue);
    Py_XSETREF(self->popleft, popleft);
    Py_XSETREF(self->refill, refill);
    Py_XSETREF(self->closer, closer);
    Py_CLEAR(self->pending);
    self->closed = 0;
    return 0;
}

static int
qi_traverse(QueueIterator *self, visitproc visit, void *arg)
{
    Py_VISIT(self->queue);
    Py_VISIT(self->popleft);
    Py_VISIT(self->refill);
    Py_VISIT(self->closer);
    Py_VISIT(self->pending);
    return 0;
}

static int
qi_clear(QueueIterator *self)
{
    Py_CLEAR(self->queue);
    Py_CLEAR(self->popleft);
    Py_CLEAR(self->refill);
    Py_CLEAR(self->closer);
    Py_CLEAR(self->pending);
    return 0;
}

static void
qi_dealloc(QueueIterator *self)
{
    PyObject_GC_UnTrack(self);
    qi_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
qi_self(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

/* The refill finished with `value`: 0 when True (more is queued: go on), -1
 * with an exception set when False (StopAsyncIteration) or not a truth value. */
static int
qi_after_refill(QueueIterator *self, PyObject *value);

/* Hand out the next queued item, or start a refill and drive it. */
static PySendResult
qi_next_item(QueueIterator *self, PyObject **result)
{
    for (;;) {
        if (self->queue == NULL) {
            PyErr_SetString(PyExc_RuntimeError, "QueueIterator used before __init__");
            return PYGEN_ERROR;
        }
        if (self->closed) {
            PyErr_SetNone(PyExc_StopAsyncIteration);
            return PYGEN_ERROR;
        }
        Py_ssize_t size = PyObject_Size(self->queue);
        if (size < 0) {
            return PYGEN_ERROR;
        }
        if (size > 0) {
            PyObject *item = PyObject_CallNoArgs(self->popleft);
            if (item == NULL) {
                return PYGEN_ERROR;
            }
            *result = item;
            return PYGEN_RETURN;
        }
        PyObject *awaitable = PyObject_CallNoArgs(self->refill);
        if (awaitable == NULL) {
            self->closed = 1;
            return PYGEN_ERROR;
        }
        PyObject *iterator = qi_await_iter(awaitable);
        Py_DECREF(awaitable);
        if (iterator == NULL) {
            self->closed = 1;
            return PYGEN_ERROR;
        }
        PyObject *value = NULL;
        PySendResult status = PyIter_Send(iterator, Py_None, &value);
        if (status == PYGEN_NEXT) {
            self->pending = iterator;  /* it awaits something: resume it on the next send */
            *result = value;
            return PYGEN_NEXT;
        }
        Py_DECREF(iterator);
        if (status == PYGEN_ERROR) {
            self->closed = 1;
            return PYGEN_ERROR;
        }
        int go_on = qi_after_refill(self, value);
        Py_DECREF(value);
        if (go_on < 0) {
            return PYGEN_ERROR;  /* an error, or the end */
        }
    }
}

static int
qi_after_refill(QueueIterator *self, PyObject *value)
{
    int more = PyObject_IsTrue(value);
    if (more > 0) {
        return 0;
    }
    self->closed = 1;
    if (more == 0) {
        PyErr_SetNone(PyExc_StopAsyncIteration);
    }
    return -1;
}

/* A step of the pending refill has ended with `status`/`value`. */
static PySendResult
qi_resume_done(QueueIterator *self, PySendResult status, PyObject *value, PyObject **result)
{
    if (status == PYGEN_NEXT) {
        *result = value;  /* still waiting: yield what it yields */
        return PYGEN_NEXT;
    }
    Py_CLEAR(self->pending);
    if (status == PYGEN_ERROR) {
        self->closed = 1;
        return PYGEN_ERROR;
    }
    int go_on = qi_after_refill(self, value);
    Py_DECREF(value);
    if (go_on < 0) {
        return PYGEN_ERROR;
    }
    return qi_next_item(self, result);
}

static PySendResult
qi_am_send(PyObject *op, PyObject *arg, PyObject **result)
{
    QueueIterator *self = (QueueIterator *)op;
    if (self->pending != NULL) {
        PyObject *value = NULL;
        PySendResult status = PyIter_Send(self->pending, arg, &value);
        return qi_resume_done(self, status, value, result);
    }
    return qi_next_item(self, result);
}

/* iterator protocol: a step ending in a return raises StopIteration(value) */
static PyObject *
qi_send_to_iter(PyObject *op, PyObject *arg)
{
    PyObject *result = NULL;
    PySendResult status = qi_am_send(op, arg, &result);
    if (status == PYGEN_NEXT) {
        return result;
    }
    if (status == PYGEN_RETURN) {
        if (result == Py_None) {
            PyErr_SetNone(PyExc_StopIteration);
        }
        else {
            PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
            if (stop != NULL) {
                PyErr_SetObject(PyExc_StopIteration, stop);
                Py_DECREF(stop);
            }
        }
        Py_DECREF(result);
    }
    return NULL;
}

static PyObject *
qi_iternext(PyObject *op)
{
    return qi_send_to_iter(op, Py_None);
}

static PyObject *
qi_send(PyObject *op, PyObject *arg)
{
    return qi_send_to_iter(op, arg);
}

/* Convert "the delegate's method raised or returned" into our step outcome. */
static PyObject *
qi_delegate_outcome(QueueIterator *self, PyObject *ret)
{
    PyObject *result = NULL;
    PySendResult status;
    if (ret != NULL) {
        status = qi_resume_done(self, PYGEN_NEXT, ret, &result);
    }
    else {
        PyObject *value = NULL;
        if (PyErr_ExceptionMatches(PyExc_StopIteration)) {
            if (qi_fetch_stop_value(&value) < 0) {
                Py_CLEAR(self->pending);
                self->closed = 1;
                return NULL;
            }
            status = qi_resume_done(self, PYGEN_RETURN, value, &result);
        }
        else {
            status = qi_resume_done(self, PYGEN_ERROR, NULL, &result);
        }
    }
    if (status == PYGEN_NEXT) {
        return result;
    }
    if (status == PYGEN_RETURN) {
        PyObject *stop = PyObject_CallOneArg(PyExc_StopIteration, result);
        Py_DECREF(result);
        if (stop != NULL) {
            PyErr_SetObject(PyExc_StopIteration, stop);
            Py_DECREF(stop);
        }
    }
    return NULL;
}

static PyObject *
qi_throw(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    QueueIterator *self = (QueueIterator *)op;
    if (nargs < 1 || nargs > 3) {
        PyErr_SetString(PyExc_TypeError, "throw() takes from 1 to 3 arguments");
        return NULL;
    }
    if (self->pending != NULL) {
        PyObject *throw_method = PyObject_GetAttrString(self->pending, "throw");
        if (throw_method != NULL) {
            PyObject *ret = PyObject_Vectorcall(throw_method, args, nargs, NULL);
            Py_DECREF(throw_method);
            return qi_delegate_outcome(self, ret);
        }
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        Py_CLEAR(self->pending);
    }
    /* Nothing to pass it to: raise it here, as a generator with no delegate would. */
    PyObject *typ = args[0];
    PyObject *val = nargs > 1 ? args[1] : Py_None;
    PyObject *tb = nargs > 2 ? args[2] : Py_None;
    if (PyExceptionInstance_Check(typ)) {
        if (tb != Py_None && PyException_SetTraceback(typ, tb) < 0) {
            return NULL;
        }
        PyErr_SetObject((PyObject *)Py_TYPE(typ), typ);
    }
    else if (PyExceptionClass_Check(typ)) {
        PyErr_SetObject(typ, val);
    }
    else {
        PyErr_SetString(PyExc_TypeError, "exceptions must be classes or instances deriving from BaseException");
        return NULL;
    }
    return NULL;
}

static PyObject *
qi_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    QueueIterator *self = (QueueIterator *)op;
    PyObject *pending = self->pending;
    self->pending = NULL;
    if (pending != NULL) {
        PyObject *ret = PyObject_CallMethod(pending, "close", NULL);
        Py_DECREF(pending);
        if (ret == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
                return NULL;
            }
            PyErr_Clear();
        }
        else {
            Py_DECREF(ret);
        }
    }
    Py_RETURN_NONE;
}

static PyObject *
qi_aclose(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    QueueIterator *self = (QueueIterator *)op;
    self->closed = 1;
    PyObject *closed = qi_close(op, NULL);
    if (closed == NULL) {
        return NULL;
    }
    Py_DECREF(closed);
    if (self->closer == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "QueueIterator used before __init__");
        return NULL;
    }
    return PyObject_CallNoArgs(self->closer);
}

static PyMethodDef qi_methods[] = {
    {"send", (PyCFunction)qi_send, METH_O, "Resume the step with a value (iterator protocol)."},
    {"throw", (PyCFunction)(void (*)(void))qi_throw, METH_FASTCALL, "Raise an exception into the pending refill."},
    {"close", (PyCFunction)qi_close, METH_NOARGS, "Abandon the pending refill, if any."},
    {"aclose", (PyCFunction)qi_aclose, METH_NOARGS, "End the iteration; returns the closer's awaitable."},
    {NULL, NULL, 0, NULL},
};

static PyAsyncMethods qi_as_async = {
    .am_await = qi_self,
    .am_aiter = qi_self,
    .am_anext = qi_self,
    .am_send = qi_am_send,
};

static PyTypeObject QueueIterator_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tidal.streams._speedups.QueueIterator",
    .tp_basicsize = sizeof(QueueIterator),
    .tp_dealloc = (destructor)qi_dealloc,
    .tp_as_async = &qi_as_async,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "QueueIterator(queue, refill, closer): async-iterate a deque refilled by `await refill()`.",
    .tp_traverse = (traverseproc)qi_traverse,
    .tp_clear = (inquiry)qi_clear,
    .tp_iter = qi_self,
    .tp_iternext = qi_iternext,
    .tp_methods = qi_methods,
    .tp_init = (initproc)qi_init,
    .tp_new = PyType_GenericNew,
};


/* ---- non-blocking socket calls for socket streams --------------------------------
 *
 * recv_into_now(fd, buffer) and send_now(fd, data) make one recv(2)/send(2)
 * with MSG_DONTWAIT: they never wait, so they keep the GIL (as libuv-based
 * loops do for their reads and writes) instead of releasing and re-taking
 * it, and take their two positional arguments without the keyword parsing of
 * socket.recv_into/socket.send.  The fd comes from sock.fileno() at each call,
 * so a closed socket (fileno() -1) fails with EBADF rather than touching a
 * reused descriptor.  EINTR is retried after running signal handlers
 * (PEP 475); every other error raises the matching OSError subclass
 * (BlockingIOError for EAGAIN), as the socket methods do.
 */
#ifndef MS_WINDOWS
#include <sys/types.h>
#include <sys/socket.h>
#include <errno.h>

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0  /* macOS: SIGPIPE is ignored by Python anyway */
#endif

static int
qi_fd_and_buffer(PyObject *const *args, Py_ssize_t nargs, const char *name, int flags, int *fd, Py_buffer *view)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "%s() takes exactly 2 arguments (%zd given)", name, nargs);
        return -1;
    }
    long value = PyLong_AsLong(args[0]);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (value < -1 || value > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "file descriptor out of range");
        return -1;
    }
    *fd = (int)value;
    if (PyObject_GetBuffer(args[1], view, flags) < 0) {
        if (PyErr_ExceptionMatches(PyExc_BufferError)) {  /* the TypeError the socket methods raise */
            PyErr_Format(PyExc_TypeError, "%s() argument 2 must be a %sbytes-like object, not %.100s", name,
                         (flags & PyBUF_WRITABLE) ? "writable " : "", Py_TYPE(args[1])->tp_name);
        }
        return -1;
    }
    return 0;
}

/* One recv(2) (receiving) or send(2) of the buffer in args[1] on the fd in args[0]. */
static PyObject *
nonblocking_call(PyObject *const *args, Py_ssize_t nargs, const char *name, int receiving)
{
    int fd;
    Py_buffer view;
    if (qi_fd_and_buffer(args, nargs, name, receiving ? PyBUF_WRITABLE : PyBUF_SIMPLE, &fd, &view) < 0) {
        return NULL;
    }
    ssize_t count;
    for (;;) {
        count = receiving ? recv(fd, view.buf, (size_t)view.len, MSG_DONTWAIT)
                          : send(fd, view.buf, (size_t)view.len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (count >= 0) {
            break;
        }
        if (errno != EINTR) {
            PyErr_SetFromErrno(PyExc_OSError);
            PyBuffer_Release(&view);
            return NULL;
        }
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

static PyObject *
recv_into_now(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return nonblocking_call(args, nargs, "recv_into_now", 1);
}

static PyObject *
send_now(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    return nonblocking_call(args, nargs, "send_now", 0);
}
#endif /* !MS_WINDOWS */

static PyMethodDef speedups_functions[] = {
#ifndef MS_WINDOWS
    {"recv_into_now", (PyCFunction)(void (*)(void))recv_into_now, METH_FASTCALL,
     "recv_into_now(fd, buffer) -> int: one non-blocking recv(2) into buffer."},
    {"send_now", (PyCFunction)(void (*)(void))send_now, METH_FASTCALL,
     "send_now(fd, data) -> int: one non-blocking send(2) of data; returns the bytes taken."},
#endif
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "tidal.streams._speedups",
    .m_doc = "Optional C speedups for tidal.streams (see _queue_iter.py and _socket.py).",
    .m_size = -1,
    .m_methods = speedups_functions,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    if (PyType_Ready(&QueueIterator_Type) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&QueueIterator_Type);
    if (PyModule_AddObject(module, "QueueIterator", (PyObject *)&QueueIterator_Type) < 0) {
        Py_DECREF(&QueueIterator_Type);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
