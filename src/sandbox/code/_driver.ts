/**
 * The code driver: the Python program that runs in the sandbox for each code context, and the
 * one-line bootstrap that reads it from the exec session's stdin. It is sent, not installed: the
 * image needs only `python3` (and `bash` for a bash context). Over 400 lines, it stays one file:
 * the driver is one Python program, sent whole.
 *
 * What the driver does: it moves the session's stdin and stdout to private descriptors (closed on
 * exec, so no child inherits them) and speaks the framed protocol of ./_frames.ts there; fds 0,
 * 1 and 2 become /dev/null and two pipes, which threads read and send as stdout and stderr data
 * of the run in flight (dropped between runs, and cut at the run's byte limit). So whatever the
 * code prints, with print(), os.write(1, ...) or from a child process, is output data, never a
 * frame. A run ends once the pipes have been read to what they held when the code returned; no
 * frame of a run is sent after its end (one lock covers both).
 *
 * Python: the code runs in one namespace kept between runs; the last expression's value and each
 * display(obj) become results (repr, and _repr_png_/_svg_/_html_/_json_ where the object has
 * them); matplotlib gets the Agg backend (MPLBACKEND, set before the code can import pyplot) and
 * each open figure becomes a PNG result, then all are closed. SIGINT raises KeyboardInterrupt
 * only while the code runs. Bash: one interactive `bash --norc` (for its SIGINT: it abandons the
 * line and reads the next) in a session of its own, fed `. CELL` lines with stdin from /dev/null,
 * and its status on fd 3; SIGINT goes to its process group.
 *
 * Most of this module is the driver's Python source, kept in one piece: it may pass 400 lines.
 *
 * @module
 */

/**
 * `python3 -u -c BOOTSTRAP LANGUAGE`: reads a 10-digit length and that many bytes of driver
 * source from stdin, and runs them.
 */
export const BOOTSTRAP = [
  "import os",
  "def _r(n):",
  "    b = b''",
  "    while len(b) < n:",
  "        c = os.read(0, n - len(b))",
  "        if not c: raise SystemExit('orbiter-code: the driver did not arrive')",
  "        b += c",
  "    return b",
  "exec(compile(_r(int(_r(10))), '<orbiter-code-driver>', 'exec'))",
].join("\n");

/** The driver's source (see the module's doc). */
export const DRIVER: string = String
  .raw`import ast, base64, builtins, fcntl, json, linecache, os, select, signal, struct, sys, termios
import threading, traceback

LANG = sys.argv[1] if len(sys.argv) > 1 else "python"
T_HELLO, T_OUT, T_ERR, T_RESULT, T_ERROR, T_DONE = 1, 2, 3, 4, 5, 6
R_RUN, R_CLOSE = 1, 2
NO_RUN = bytes(8)
MAX_REQUEST = 64 << 20
MAX_CHUNK = 65536
MAX_RESULT = (8 << 20) - 64
MAX_TEXT = 1 << 20
MAX_RESULTS = 256
MAX_RESULTS_BYTES = 56 << 20
MAX_ERROR_TEXT = 64 << 10

# The protocol keeps the session's stdin and stdout on private descriptors (not inherited: os.dup
# makes them close-on-exec); fds 0, 1 and 2 become /dev/null and pipes that the pumps frame.
PIN = os.dup(0)
POUT = os.dup(1)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
_pipes = {}
for _fd in (1, 2):
    _r, _w = os.pipe()
    os.dup2(_w, _fd)
    os.close(_w)
    os.set_blocking(_r, False)
    _pipes[_fd] = _r
send_lock = threading.Lock()
# Held to check the run in flight and send one of its frames, and to end a run: no frame of a run
# is ever sent after its DONE.
run_lock = threading.RLock()


class Run:
    def __init__(self, rid, limit):
        self.rid = rid
        self.limit = limit
        self.sent = {1: 0, 2: 0}
        self.truncated = False
        self.results = 0
        self.result_bytes = 0


current = None


def send(kind, rid, payload=b""):
    frame = struct.pack(">IB", 9 + len(payload), kind) + rid + payload
    with send_lock:
        view = memoryview(frame)
        while view:
            view = view[os.write(POUT, view):]


def forward(fd, data):
    run = current
    if run is None or not data:
        return
    room = run.limit - run.sent[fd]
    if len(data) > room:
        data = data[:max(room, 0)]
        run.truncated = True
    if data:
        run.sent[fd] += len(data)
        send(T_OUT if fd == 1 else T_ERR, run.rid, data)


def drain(fd):
    """Forwards what the pipe holds now (not what a writer adds meanwhile)."""
    left = struct.unpack("i", fcntl.ioctl(_pipes[fd], termios.FIONREAD, b"\0\0\0\0"))[0]
    while left > 0:
        try:
            data = os.read(_pipes[fd], min(left, MAX_CHUNK))
        except BlockingIOError:
            return
        if not data:
            return
        left -= len(data)
        forward(fd, data)


def pump(fd):
    while True:
        select.select([_pipes[fd]], [], [])
        with run_lock:
            try:
                data = os.read(_pipes[fd], MAX_CHUNK)
            except BlockingIOError:
                continue
            forward(fd, data)


for _fd in (1, 2):
    threading.Thread(target=pump, args=(_fd,), daemon=True).start()


def sync_output():
    """Sends every byte the run wrote so far: the pipes are read to empty under the pumps' lock."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    with run_lock:
        drain(1)
        drain(2)


def dumps(value):
    try:
        return json.dumps(value, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError):
        return None


def clip(text, limit):
    return text if len(text) <= limit else text[:limit] + "\n[... cut]"


def emit(payload):
    sync_output()
    with run_lock:
        emit_locked(payload)


def emit_locked(payload):
    run = current
    if run is None or run.results >= MAX_RESULTS:
        return
    data = dumps(payload)
    for key in ("png", "svg", "html", "json"):
        if data is not None and len(data) <= MAX_RESULT:
            break
        if key in payload:
            del payload[key]
            data = dumps(payload)
    if data is None or len(data) > MAX_RESULT:
        data = dumps({"text": clip(payload["text"], MAX_RESULT // 8)})
    if run.result_bytes + len(data) > MAX_RESULTS_BYTES:
        return
    run.results += 1
    run.result_bytes += len(data)
    drain(1)
    drain(2)
    send(T_RESULT, run.rid, data)


def format_value(obj):
    try:
        text = repr(obj)
    except BaseException as e:
        text = "<%s object (repr raised %s)>" % (type(obj).__name__, type(e).__name__)
    out = {"text": clip(text, MAX_TEXT)}
    for method, key in (("_repr_png_", "png"), ("_repr_svg_", "svg"), ("_repr_html_", "html"),
                        ("_repr_json_", "json")):
        try:
            fn = getattr(obj, method, None)
            value = fn() if callable(fn) else None
            if isinstance(value, tuple):
                value = value[0]
            if value is None:
                continue
            if key == "png":
                value = base64.b64encode(value).decode() if isinstance(value, bytes) else str(value)
            elif key == "json":
                if dumps(value) is None:
                    continue
            else:
                value = str(value)
            out[key] = value
        except BaseException:
            pass
    return out


def display(*objs):
    """Adds each object to the run's results, as a notebook's display() does."""
    for obj in objs:
        emit(format_value(obj))


def figures():
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is None:
        return
    import io
    try:
        for num in plt.get_fignums():
            fig = plt.figure(num)
            buf = io.BytesIO()
            fig.savefig(buf, format="png")
            emit({"text": clip(repr(fig), MAX_TEXT), "png": base64.b64encode(buf.getvalue()).decode()})
        plt.close("all")
    except Exception as e:
        print("figure capture failed: %r" % (e,), file=sys.stderr)


running = False
interrupted = False
shell = None


def on_sigint(signum, frame):
    global interrupted
    if not running:
        return
    interrupted = True
    if shell is not None:
        try:
            os.killpg(shell.pid, signal.SIGINT)
        except OSError:
            pass
        return
    raise KeyboardInterrupt


signal.signal(signal.SIGINT, on_sigint)
os.environ["MPLBACKEND"] = "Agg"
namespace = {"__name__": "__main__", "__builtins__": builtins, "display": display}
cells = 0


def run_python(code):
    global cells, running
    cells += 1
    name = "<cell %d>" % cells
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    error = None
    try:
        try:
            running = True
            tree = ast.parse(code, name, "exec")
            last = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last = ast.Expression(tree.body.pop().value)
            exec(compile(tree, name, "exec"), namespace)
            value = eval(compile(last, name, "eval"), namespace) if last is not None else None
        finally:
            running = False
        if value is not None:
            namespace["_"] = value
            display(value)
    except BaseException as e:
        tb = e.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename != name:
            tb = tb.tb_next
        if isinstance(e, SyntaxError):
            tb = None
        lines = traceback.format_exception(type(e), e, tb)
        try:
            value = str(e)
        except BaseException:
            value = ""
        error = {"name": type(e).__name__, "value": clip(value, MAX_ERROR_TEXT),
                 "traceback": clip("".join(lines), MAX_ERROR_TEXT)}
    figures()
    return error


def start_shell():
    import subprocess
    global shell, status_r
    r, w = os.pipe()
    shell = subprocess.Popen(
        ["bash", "--noprofile", "--norc", "--noediting", "-i"], stdin=subprocess.PIPE,
        pass_fds=(w,), start_new_session=True)
    os.close(w)
    os.set_inheritable(r, False)
    status_r = os.fdopen(r, "rb", 0)
    move = b"" if w == 3 else b" exec 3>&%d %d>&-;" % (w, w)
    shell.stdin.write(b"PS1= PS2= PS0= PS4=; PROMPT_COMMAND=; unset HISTFILE; set +o history +m;"
                      + move + b" builtin printf 'ready\\n' >&3\n")
    shell.stdin.flush()
    if status_r.readline() != b"ready\n":
        raise SystemExit("bash did not start")


def run_bash(code):
    global running
    import tempfile
    fd, path = tempfile.mkstemp(prefix="orbiter-cell-", dir=CELL_DIR)
    with os.fdopen(fd, "wb") as f:
        f.write(code.encode())
    quoted = "'" + path.replace("'", "'\\''") + "'"
    try:
        running = True
        shell.stdin.write(("builtin . %s </dev/null 3>&-\nbuiltin printf '%%s\\n' \"$?\" >&3\n"
                           % quoted).encode())
        shell.stdin.flush()
        line = status_r.readline()
    finally:
        running = False
        os.unlink(path)
    if not line:
        code = shell.wait()
        return {"name": "ShellExited", "value": "bash exited with status %d" % code,
                "traceback": ""}, True
    status = line.strip().decode("ascii", "replace")
    if interrupted and status == "130":
        return {"name": "KeyboardInterrupt", "value": "", "traceback": ""}, False
    if status != "0":
        return {"name": "ExitStatus", "value": status, "traceback": ""}, False
    return None, False


def read_exact(n):
    buf = bytearray()
    while len(buf) < n:
        chunk = os.read(PIN, n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


CELL_DIR = "/run/orbiter" if os.access("/run/orbiter", os.W_OK) else None
if LANG == "bash":
    start_shell()
send(T_HELLO, NO_RUN, json.dumps({"protocol": 1, "pid": os.getpid(), "language": LANG}).encode())
while True:
    head = read_exact(13)
    if head is None:
        break
    size, kind = struct.unpack(">IB", head[:5])
    rid = head[5:13]
    if size < 9 or size > MAX_REQUEST:
        break
    body = read_exact(size - 9)
    if body is None or kind == R_CLOSE:
        break
    if kind != R_RUN:
        break
    request = json.loads(body)
    interrupted = False
    current = Run(rid, int(request["max"]))
    ended = False
    if LANG == "bash":
        error, ended = run_bash(request["code"])
    else:
        error = run_python(request["code"])
    sync_output()
    with run_lock:
        drain(1)
        drain(2)
        if error is not None:
            send(T_ERROR, rid, dumps(error))
        done = current
        current = None
        send(T_DONE, rid, b"\x01" if done.truncated else b"\x00")
    if ended:
        break
if shell is not None and shell.poll() is None:
    try:
        os.killpg(shell.pid, signal.SIGKILL)
    except OSError:
        pass
os._exit(0)
`;
