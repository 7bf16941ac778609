/**
 * The command channel's program: the one `sh` script the library keeps running in a sandbox, fed
 * through one exec session (see ./_channel.ts for the client's side).
 *
 * @module
 */

import { KILL_TREE, SAFE_PATH } from "./_scripts.ts";
import { ACTIVITY_FILE } from "../../_internal/names.ts";

/**
 * The program's greeting, before its PID: its name and protocol version. The parser
 * (./_channel_frames.ts) takes only this greeting as the start of a stream.
 */
export const CHANNEL_HELLO = "orbiter-channel 3";

/**
 * `sh -c CHANNEL _ DIR FALLBACK_DIR`: the command channel's program, one per sandbox, fed through
 * one exec session. Its files live in DIR (in the memory-backed volume), or FALLBACK_DIR where
 * DIR cannot be made. Its first input line is a key (random, from the client); it prints
 * `orbiter-channel 3 PID\n`, then reads requests on stdin, one line each:
 *
 * - `ID run STDIN_LEN MAX SCRIPT\n`, then exactly STDIN_LEN bytes of input (read with `dd
 *   iflag=count_bytes,fullblock`, which never reads past them: BusyBox's `head -c` would): runs
 *   SCRIPT (one line: see `commandScript`) in a background subshell with that input;
 * - `ID kill 0 0\n`: kills command ID's process tree, or marks it so that it never starts.
 *
 * The input is staged with mode 600 and removed as soon as the command has opened it. The
 * command's stdout and stderr go through pipes (both ends opened before the command runs) to
 * `dd`, which keeps at most MAX + 1 bytes of each and drains the rest: a command that prints
 * forever fills nothing. (`fullblock`, since without it dd counts reads, not bytes: output
 * written in bursts was cut after a few of them, without `truncated`.) A background process that holds the output open gets 2 s, as an exec
 * gets from containerd; then the output is cut there.
 *
 * Each finished command is answered on stdout by one frame, `ID CODE OUT_LEN ERR_LEN TRUNCATED\n`,
 * exactly OUT_LEN bytes of stdout and ERR_LEN bytes of stderr (each at most MAX), then the key and
 * a newline. The output files are opened read-write (a FIFO put in their place cannot block the
 * program), must be regular files, and their lengths are taken from the open files; the client
 * checks each frame's id, lengths and closing key, so output that changes under the program
 * breaks the channel instead of passing for a frame.
 *
 * Each request creates {@linkcode ACTIVITY_FILE} (an `idleTimeout` sandbox's keep-alive counts
 * it), and `DIR/idle-skip` names the program's own two processes, which that keep-alive does not
 * count as activity: an idle channel does not keep a sandbox awake.
 *
 * Commands run at once. The requests are read by a background subshell; the program itself
 * (the session's process, whose PID the greeting gives) is the only writer of stdout, so frames
 * stay whole, and its end ends the session. A kill is remembered before it looks for the
 * command's PID, and the command looks for it after its PID is written, so that one of the two
 * always sees the other. When stdin ends (the session is gone), every running command's tree is
 * killed and DIR removed. The program's own steps use {@linkcode SAFE_PATH}.
 */
export const CHANNEL = `
ORBITER_PATH=$PATH; export ORBITER_PATH; PATH=${SAFE_PATH}
d=$1
nl='
'
IFS= read -r key || exit 1
um=$(umask)
kill_tree() { sh -c '${KILL_TREE.replaceAll("'", "'\\''")}' "$1" >/dev/null 2>&1; }
umask 077
mkdir -p "$d" 2>/dev/null || d=$2
mkdir -p "$d" && mkfifo "$d/done" || exit 1
echo $$ > "$d/idle-skip"
exec 3<>"$d/done" 4<&0 0</dev/null
(
  while read -r id kind ilen max script; do
    case $id$ilen$max in *[!0-9]*|'') continue ;; esac
    case $kind in
    run)
      true 2>/dev/null >${ACTIVITY_FILE}
      i=/dev/null
      if [ "$ilen" -gt 0 ]; then
        i="$d/$id.in"
        dd bs=65536 count="$ilen" iflag=count_bytes,fullblock of="$i" 2>/dev/null
      fi
      {
        o="$d/$id.o" e="$d/$id.e" lim=$((max + 1))
        # Both ends of each pipe are open here before anything runs: a pipe whose last end
        # closes loses what it holds, and a reader that opened late would find nothing.
        mkfifo "$o.p" "$e.p"
        exec 5<>"$o.p" 6<>"$e.p" 7<"$o.p" 8<"$e.p"
        rm -f "$o.p" "$e.p"
        { dd bs=65536 count=$lim iflag=count_bytes,fullblock of="$o" 2>/dev/null || : > "$o.x"; exec cat > /dev/null; } <&7 5>&- 6>&- 7<&- 8<&- &
        lo=$!
        { dd bs=65536 count=$lim iflag=count_bytes,fullblock of="$e" 2>/dev/null || : > "$e.x"; exec cat > /dev/null; } <&8 5>&- 6>&- 7<&- 8<&- &
        le=$!
        (
          exec < "$i" >&5 2>&6 5>&- 6>&- 7<&- 8<&- 3>&- 4<&-
          [ "$i" = /dev/null ] || rm -f "$i"
          [ -e "$d/$id.kill" ] && exit 137
          umask "$um"; PATH=$ORBITER_PATH
          eval "$script"
        ) &
        c=$!
        exec 5>&- 6>&- 7<&- 8<&-
        echo $c > "$d/$id.pid"
        [ -e "$d/$id.kill" ] && kill_tree "$d/$id.pid"
        wait $c
        s=$?
        : > "$d/$id.pid"
        # A background process may hold the output open: give the output 2 s to end (as
        # containerd gives an exec's), then stop reading it (its writes then fail, as after a
        # plain exec) and answer.
        ( sleep 2; kill $lo $le ) >/dev/null 2>&1 &
        w=$!
        wait $lo $le
        kill $w 2>/dev/null
        echo "$id $s $max" >&3
      } &
      ;;
    kill)
      : > "$d/$id.kill"
      [ -s "$d/$id.pid" ] && kill_tree "$d/$id.pid"
      ;;
    esac
  done
  for f in "$d"/*.pid; do [ -s "$f" ] && kill_tree "$f"; done
  echo "0 exit 0" >&3
) <&4 >/dev/null 2>&1 &
echo $! >> "$d/idle-skip"
exec 4<&-
printf '${CHANNEL_HELLO} %s\\n' "$$"
old= n=0
while read -r id code max <&3; do
  [ "$code" = exit ] && break
  case $id$code$max in *[!0-9]*|'') continue ;; esac
  o=0 e=0 t=0
  if { command exec 6<>"$d/$id.o" 7<>"$d/$id.e"; } 2>/dev/null &&
    [ -f /proc/$$/fd/6 ] && [ -f /proc/$$/fd/7 ]; then
    set -- $(stat -L -c %s /proc/$$/fd/6 /proc/$$/fd/7)
    o=\${1:-0} e=\${2:-0}
  fi
  # A copy that failed (the volume is full) kept only the output's head: cut, as over the limit.
  [ -e "$d/$id.o.x" ] || [ -e "$d/$id.e.x" ] && t=1
  [ "$o" -gt "$max" ] && o=$max t=1
  [ "$e" -gt "$max" ] && e=$max t=1
  printf '%s %s %s %s %s\\n' "$id" "$code" "$o" "$e" "$t"
  [ "$o" -gt 0 ] && head -c "$o" <&6
  [ "$e" -gt 0 ] && head -c "$e" <&7
  printf '%s\\n' "$key"
  exec 6<&- 7<&-
  old="$old $d/$id.o $d/$id.e $d/$id.o.x $d/$id.e.x $d/$id.pid $d/$id.kill" n=$((n + 1))
  if [ $n -ge 32 ]; then rm -f $old; old= n=0; fi
done
rm -rf "$d"`;
