using System.Text.Json;

namespace Executor.EndToEndTests;

/// <summary>Under runc, Docker's default isolation level, with Executor's seccomp profile.</summary>
[Collection(StackCollection.Name)]
public sealed class HostileCodeTests(StackFixture stack) : HostileCodeSuite(stack);

/// <summary>Under gVisor (runsc): the same cases, the same outcomes.</summary>
[Collection(GvisorCollection.Name)]
public sealed class HostileCodeTestsUnderGvisor(GvisorStackFixture stack) : HostileCodeSuite(stack);

/// <summary>
/// Code written to break out, exhaust or confuse the sandbox. Each case must end in the status it deserves, and
/// afterwards every service is healthy, a normal script still runs correctly, and no container of the session is left.
/// </summary>
public abstract class HostileCodeSuite(StackFixture stack)
{
    /// <summary>Short enough to keep the suite quick; the default 10 s timeout is proven elsewhere.</summary>
    private static readonly (string, string) ShortTimeout = ("timeout_seconds", "3");

    /// <summary>ENOSPC, or EFBIG from the fsize limit.</summary>
    private static readonly string[] DiskFullErrors = ["28", "27"];

    private Task<JsonElement> RunContainedAsync(string script, string expectedStatus, params (string, string)[] fields) =>
        stack.RunContainedAsync(script, expectedStatus, ("print(sum(range(10)))\n", "45\n"), fields);

    private static string Stdout(JsonElement result) => result.GetProperty("stdout").GetString()!;

    [Fact]
    public async Task Fork_bomb_is_contained_by_the_pids_limit()
    {
        // Under gVisor every sandboxed process also costs the host a process and memory (ptrace platform): the bomb
        // fills the memory limit before RLIMIT_NPROC stops it, and the whole sandbox is killed at that limit.
        var expected = stack.ExpectedIsolation == "runsc" ? "memory_exceeded" : "timed_out";
        var result = await RunContainedAsync("""
            import os
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
            """, expected, ShortTimeout);

        Assert.Equal(9, result.GetProperty("signal").GetInt32());
    }

    [Fact]
    public async Task Memory_bomb_is_killed_at_the_memory_limit()
    {
        var result = await RunContainedAsync("""
            hog = []
            while True:
                hog.append(bytearray(8 * 1024 * 1024))
            """, "memory_exceeded");

        Assert.Equal(9, result.GetProperty("signal").GetInt32());
        Assert.Contains("128 MiB", result.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cpu_bound_infinite_loop_ends_at_the_timeout()
    {
        var result = await RunContainedAsync("while True:\n    pass\n", "timed_out", ShortTimeout);

        // Half a CPU: the loop gets about half the wall time. Under gVisor the CPU time is the Sentry's own accounting,
        // not the host's (seen once: 2.76 s in a 3 s run); the quota is the host cgroup's (NanoCPUs, checked in
        // SandboxLimitsTests), so there the bound is the wall time the run had.
        var most = stack.ExpectedIsolation == "runsc" ? 3_000 : 2_600;
        Assert.InRange(result.GetProperty("cpu_time_ms").GetDouble(), 500, most);
    }

    [Fact]
    public async Task Sleeping_forever_ends_at_the_timeout() =>
        await RunContainedAsync("import time\ntime.sleep(10**6)\n", "timed_out", ShortTimeout);

    [Fact]
    public async Task Stdout_flood_of_hundreds_of_megabytes_is_cut_at_the_output_limit()
    {
        var result = await RunContainedAsync("""
            import os
            chunk = b"x" * (1024 * 1024)
            for _ in range(500):
                os.write(1, chunk)
            """, "output_limit_exceeded");

        Assert.Equal(1024 * 1024, Stdout(result).Length);
        Assert.True(result.GetProperty("stdout_truncated").GetBoolean());
        Assert.False(result.GetProperty("stderr_truncated").GetBoolean());
    }

    [Fact]
    public async Task Stderr_flood_is_cut_at_the_output_limit()
    {
        var result = await RunContainedAsync("""
            import sys
            while True:
                sys.stderr.write("e" * 65536)
            """, "output_limit_exceeded");

        Assert.Equal(1024 * 1024, result.GetProperty("stderr").GetString()!.Length);
        Assert.True(result.GetProperty("stderr_truncated").GetBoolean());
    }

    [Fact]
    public async Task Filling_tmp_shm_and_the_work_directory_stops_at_their_sizes()
    {
        var result = await RunContainedAsync("""
            import os
            for d in ("/tmp", "/dev/shm", "/sandbox"):
                written = 0
                try:
                    with open(os.path.join(d, "fill"), "wb") as f:
                        while True:
                            f.write(b"\0" * 1024 * 1024)
                            f.flush()
                            written += 1
                except OSError as e:
                    print(d, written, e.errno)
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, line =>
        {
            var parts = line.Split(' ');
            Assert.InRange(int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture), 0, 16);
            Assert.Contains(parts[2], DiskFullErrors);
        });
    }

    [Fact]
    public async Task Writing_to_the_root_and_usr_is_refused()
    {
        var result = await RunContainedAsync("""
            for path in ("/evil", "/usr/evil", "/usr/bin/python3", "/etc/passwd"):
                try:
                    open(path, "a").write("x")
                    print(path, "WRITTEN")
                except OSError as e:
                    print(path, "refused", e.errno)
            """, "completed");

        Assert.DoesNotContain("WRITTEN", Stdout(result), StringComparison.Ordinal);
        Assert.Equal(4, Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries).Count(l => l.Contains("refused", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task Network_connections_and_dns_lookups_fail()
    {
        var result = await RunContainedAsync("""
            import socket
            try:
                socket.create_connection(("1.1.1.1", 80), timeout=2)
                print("CONNECTED")
            except OSError as e:
                print("connect refused", e.errno)
            try:
                socket.getaddrinfo("example.com", 80)
                print("RESOLVED")
            except OSError as e:
                print("dns refused")
            print([name for _, name in socket.if_nameindex()])
            """, "completed");

        Assert.DoesNotContain("CONNECTED", Stdout(result), StringComparison.Ordinal);
        Assert.DoesNotContain("RESOLVED", Stdout(result), StringComparison.Ordinal);
        Assert.Contains("['lo']", Stdout(result), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_environment_holds_no_secrets_of_the_services()
    {
        var result = await RunContainedAsync("""
            import os
            print(sorted(os.environ))
            try:
                launcher = open("/proc/1/environ").read()
                print("launcher environ", sorted(v.split("=")[0] for v in launcher.split("\0") if v))
            except OSError as e:
                print("launcher environ refused", e.errno)
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("['HOME', 'HOSTNAME', 'LANG', 'PATH', 'PYTHONDONTWRITEBYTECODE']", lines[0]);
        Assert.Equal("launcher environ refused 13", lines[1]);
    }

    [Fact]
    public async Task Killing_every_process_and_pid_1_does_not_lose_the_result()
    {
        var result = await RunContainedAsync("""
            import os, signal
            try:
                os.kill(-1, signal.SIGKILL)  # everything it may signal but itself: nothing else is left (ESRCH)
            except ProcessLookupError:
                pass
            for signal_number in (signal.SIGKILL, signal.SIGTERM):
                try:
                    os.kill(1, signal_number)
                except PermissionError:
                    print("refused")
            print("still here")
            """, "completed");

        Assert.Equal("refused\nrefused\nstill here\n", Stdout(result));
    }

    [Fact]
    public async Task A_detached_background_process_does_not_outlive_the_script()
    {
        var result = await RunContainedAsync("""
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(1)"],
                             start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            print("spawned")
            """, "completed");

        Assert.Equal("spawned\n", Stdout(result));
    }

    [Fact]
    public async Task Closing_stdout_early_is_harmless()
    {
        var result = await RunContainedAsync("""
            import os, sys
            print("before")
            sys.stdout.close()
            os.close(1)
            sys.stderr.write("after\n")
            """, "completed");

        Assert.Equal("before\nafter\n", result.GetProperty("logs").GetString());
    }

    [Fact]
    public async Task An_out_directory_swapped_for_a_link_to_the_root_hands_back_nothing()
    {
        var result = await RunContainedAsync("""
            import os
            os.rmdir("out")
            os.symlink("/", "out")
            print(len(os.listdir("out/etc")) > 0)
            """, "completed");

        Assert.Equal("True\n", result.GetProperty("logs").GetString());
        Assert.Equal(0, result.GetProperty("files").GetArrayLength());
    }

    [Fact]
    public async Task Thousands_of_files_and_deep_directories_in_out_are_cut_short_and_the_run_completes()
    {
        var result = await RunContainedAsync("""
            import os
            for i in range(6000):
                open(f"out/f{i:05}", "w").close()
            deep = "out/" + "/".join("d" * 20)
            os.makedirs(deep)
            os.mkfifo("out/a-fifo")
            print("made")
            """, "completed", ("timeout_seconds", "30"));

        Assert.Equal("made\n", result.GetProperty("logs").GetString());
        Assert.Equal(32, result.GetProperty("files").GetArrayLength());
        var reasons = result.GetProperty("dropped_files").EnumerateArray().Select(d => d.GetProperty("reason").GetString()).ToList();
        Assert.Contains("not_a_regular_file", reasons); // the fifo: never opened for reading, which would block
        Assert.Contains("count_limit", reasons);
        Assert.Equal("too_many_entries", reasons[^1]);
    }

    [Fact]
    public async Task Invalid_utf8_output_arrives_as_replacement_characters()
    {
        var result = await RunContainedAsync("import sys\nsys.stdout.buffer.write(b'bad \\xff\\xfe bytes\\n')\n", "completed");

        Assert.Equal("bad \uFFFD\uFFFD bytes\n", Stdout(result));
    }

    [Fact]
    public async Task Reading_stdin_forever_without_stdin_gets_end_of_file()
    {
        var result = await RunContainedAsync("import sys\ndata = sys.stdin.read()\nprint('read', len(data))\n", "completed");

        Assert.Equal("read 0\n", Stdout(result));
    }

    [Fact]
    public async Task Children_that_keep_writing_after_the_script_exits_are_stopped()
    {
        var result = await RunContainedAsync("""
            import os, time
            for _ in range(3):
                if os.fork() == 0:
                    while True:
                        print("child", flush=True)
                        time.sleep(0.01)
            time.sleep(0.2)
            print("parent done", flush=True)
            """, "completed");

        // print() writes the text and its newline apart: a child's line may come between them.
        Assert.Contains("parent done", result.GetProperty("logs").GetString(), StringComparison.Ordinal);
        Assert.True(result.GetProperty("duration_ms").GetDouble() < 3_000, "the run waited for the children");
    }

    [Fact]
    public async Task Io_uring_and_the_other_calls_the_profile_denies_fail_and_threads_still_work()
    {
        var result = await RunContainedAsync("""
            import ctypes, errno, subprocess, threading
            libc = ctypes.CDLL(None, use_errno=True)
            buf = ctypes.create_string_buffer(256)
            calls = {
                "io_uring_setup": (425, (8, buf)), "io_uring_enter": (426, (0, 0, 0, 0, 0, 0)), "io_uring_register": (427, (0, 0, 0, 0)),
                "userfaultfd": (323, (0,)), "perf_event_open": (298, (buf, 0, -1, -1, 0)), "bpf": (321, (0, buf, 128)),
                "keyctl": (250, (0, 0)), "add_key": (248, (b"user", b"k", b"v", 1, -4)), "request_key": (249, (b"user", b"k", None, 0)),
                "ptrace": (101, (0, 0, 0, 0)), "process_vm_readv": (310, (1, buf, 1, buf, 1, 0)),
                "process_vm_writev": (311, (1, buf, 1, buf, 1, 0)), "name_to_handle_at": (303, (-100, b"/", buf, buf, 0)),
                "vmsplice": (278, (0, buf, 0, 0)), "unshare": (272, (0x10000000,)), "setns": (308, (0, 0)),
                "mount": (165, (b"none", b"/tmp", b"tmpfs", 0, None)),
            }
            for name, (number, args) in calls.items():
                returned = libc.syscall(number, *args)
                print(name, "ALLOWED" if returned >= 0 else errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno()))
            thread = threading.Thread(target=lambda: print("thread ran"))
            thread.start()
            thread.join()
            print(subprocess.run(["echo", "subprocess ran"], capture_output=True, text=True).stdout.strip())
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(19, lines.Length);
        Assert.All(lines[..17], line => Assert.Matches("^[a-z_0-9]+ (EPERM|ENOSYS)$", line));
        Assert.Equal(["thread ran", "subprocess ran"], lines[17..]);
        Assert.Equal(stack.ExpectedIsolation, result.GetProperty("isolation").GetString());
    }

    [Fact]
    public async Task The_32_bit_and_x32_system_call_entries_give_no_socket_the_filter_denies()
    {
        // socketcall (int 0x80, i386 nr 102) carries socket's arguments in memory, where no argument rule can look;
        // i386's own socket (nr 359) and x32's (0x40000000 | 41) are other doors to the same call. Each runs in a child:
        // a call of an architecture the filter does not admit kills the child (SIGSYS), which counts as contained.
        var result = await RunContainedAsync("""
            import ctypes, errno, os, stat
            libc = ctypes.CDLL(None, use_errno=True)
            libc.mmap.restype = ctypes.c_void_p
            libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
            libc.syscall.restype = ctypes.c_long
            AF_VSOCK, SOCK_STREAM = 40, 1

            def machine_code(code, data=b""):
                # An anonymous executable page below 4 GiB (MAP_32BIT): int 0x80 sees only 32-bit pointers.
                page = libc.mmap(None, 4096, 7, 0x22 | 0x40, -1, 0)
                ctypes.memmove(page + 2048, data, len(data))
                code = code.replace(b"DATA", (page + 2048).to_bytes(4, "little"))
                ctypes.memmove(page, code, len(code))
                return ctypes.CFUNCTYPE(ctypes.c_int)(page)()

            def int80(number, ebx=0, ecx=0, edx=0, data=b""):
                # push rbx; mov eax, number; mov ebx, ...; mov ecx, ...; mov edx, ...; int 0x80; pop rbx; ret
                le = lambda v: v.to_bytes(4, "little") if isinstance(v, int) else v
                return machine_code(b"\x53\xb8" + le(number) + b"\xbb" + le(ebx) + b"\xb9" + le(ecx) + b"\xba" + le(edx)
                                    + b"\xcd\x80\x5b\xc3", data)

            def x32_socket():
                returned = libc.syscall(ctypes.c_long(0x40000000 | 41), AF_VSOCK, SOCK_STREAM, 0)
                return returned if returned >= 0 else -ctypes.get_errno()

            cases = {
                "executable page": lambda: machine_code(b"\xb8\x2a\x00\x00\x00\xc3"),  # mov eax, 42; ret
                "socketcall": lambda: int80(102, 1, b"DATA", 0, (AF_VSOCK).to_bytes(4, "little") + (SOCK_STREAM).to_bytes(4, "little") + bytes(4)),
                "i386 socket": lambda: int80(359, AF_VSOCK, SOCK_STREAM, 0),
                "x32 socket": x32_socket,
            }
            for name, call in cases.items():
                read, write = os.pipe()
                pid = os.fork()
                if pid == 0:
                    try:
                        returned = call()
                        try:
                            got = "SOCKET" if returned >= 0 and stat.S_ISSOCK(os.fstat(returned).st_mode) else f"no socket ({returned})"
                        except OSError:
                            got = f"no socket ({returned})"  # not a descriptor at all
                        os.write(write, got.encode())
                    except BaseException as e:
                        os.write(write, repr(e).encode())
                    finally:
                        os._exit(0)
                os.close(write)
                said = os.read(read, 200).decode()
                _, status = os.waitpid(pid, 0)
                print(name, f"killed by signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else said)
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("executable page no socket (42)", lines[0]); // the machine code runs: the cases below are real
        Assert.Equal(3, lines[1..].Length);
        Assert.All(lines[1..], line => Assert.DoesNotContain("SOCKET", line, StringComparison.Ordinal));
        if (stack.ExpectedIsolation == "runc")
        {
            // The host's kernel offers both entries; the filter admits neither.
            Assert.All(lines[1..], line => Assert.EndsWith("killed by signal 31", line, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Only_harmless_devices_are_there_and_no_device_node_can_be_made()
    {
        var result = await RunContainedAsync("""
            import ctypes, errno, os, stat

            def devices(directory):  # the device nodes of /dev, outside the mounts in it (pts, shm, mqueue)
                for entry in os.scandir(directory):
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if stat.S_ISDIR(mode) and not os.path.ismount(entry.path):
                        yield from devices(entry.path)
                    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                        yield entry.path

            print("devices", " ".join(sorted(devices("/dev"))))
            for path in ("/dev/fuse", "/dev/net/tun"):
                try:
                    os.close(os.open(path, os.O_RDWR))
                    print(path, "OPENED")
                except OSError as e:
                    print(path, errno.errorcode[e.errno])
            libc = ctypes.CDLL(None, use_errno=True)
            kinds = {"character device": stat.S_IFCHR, "block device": stat.S_IFBLK, "fifo": stat.S_IFIFO, "file": stat.S_IFREG}
            for directory in ("/tmp", "/sandbox", "/dev/shm"):
                for kind, mode in kinds.items():
                    for call in ("mknodat", "mknod"):
                        path = f"{directory}/{call}-{kind.replace(' ', '-')}"
                        if call == "mknodat":
                            made = libc.syscall(259, -100, path.encode(), mode | 0o666, os.makedev(10, 229)) == 0
                        else:
                            made = libc.syscall(133, path.encode(), mode | 0o666, os.makedev(10, 200)) == 0
                        print(directory, call, kind, "made" if made else errno.errorcode[ctypes.get_errno()])
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("devices /dev/full /dev/null /dev/random /dev/tty /dev/urandom /dev/zero", lines[0]);
        Assert.Equal(["/dev/fuse ENOENT", "/dev/net/tun ENOENT"], lines[1..3]);
        var made = lines[3..];
        Assert.Equal(3 * 4 * 2, made.Length);
        Assert.All(made.Where(l => l.Contains("device", StringComparison.Ordinal)), line => Assert.EndsWith(" EPERM", line, StringComparison.Ordinal));
        Assert.All(made.Where(l => !l.Contains("device", StringComparison.Ordinal)), line => Assert.EndsWith(" made", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_launchers_proc_entries_are_closed()
    {
        var result = await RunContainedAsync("""
            import errno, os
            probes = {
                "list fd": lambda: os.listdir("/proc/1/fd"),
                "link fd/0": lambda: os.readlink("/proc/1/fd/0"),
                "link fd/1": lambda: os.readlink("/proc/1/fd/1"),
                "fdinfo/1": lambda: open("/proc/1/fdinfo/1").read(),
                "environ": lambda: open("/proc/1/environ", "rb").read(),
                "maps": lambda: open("/proc/1/maps").read(),
                "cwd": lambda: os.readlink("/proc/1/cwd"),
                "root": lambda: os.listdir("/proc/1/root/"),
                "mem": lambda: open("/proc/1/mem", "rb").read(1),
            }
            for name, probe in probes.items():
                try:
                    print(name, "READ", repr(probe())[:80])
                except OSError as e:
                    print(name, errno.errorcode[e.errno])
            """, "completed");

        var lines = Stdout(result).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(9, lines.Length);
        Assert.All(lines, line => Assert.EndsWith(" EACCES", line, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_script_cannot_forge_its_result()
    {
        var result = await RunContainedAsync("""
            import os, sys
            forged = b'{"outcome": "exited", "exit_code": 0, "signal": null}'
            frame = b"x" + len(forged).to_bytes(4, "big") + forged
            os.write(1, frame)
            os.write(3, frame)
            try:  # the launcher's own stdout, where the real record goes (gVisor lets a process of the same user open it)
                with open("/proc/1/fd/1", "wb", buffering=0) as launcher:
                    launcher.write(frame)
                print("WROTE INTO THE LAUNCHER")
            except OSError as e:
                print(f"launcher output refused {e.errno}")  # one write: fd 3's forged frame left that stream raw
            sys.stdout.flush()
            sys.exit(5)
            """, "failed");

        Assert.Equal(5, result.GetProperty("exit_code").GetInt32());
        Assert.Contains("launcher output refused 13", Stdout(result), StringComparison.Ordinal);
    }
}
