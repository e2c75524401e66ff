using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Threading;
using KernelHarness.Grader.Build;
using KernelHarness.Grader.Runner;

namespace KernelHarness.Grader.Execution;

/// <summary>What to run in child processes.</summary>
public sealed class ExecutionRequest
{
    /// <summary>The run folder: the student assembly, the kernel assemblies and the runner (the only files the child sees under bwrap).</summary>
    public required string RunDirectory { get; init; }
    public byte[]? HiddenAssembly { get; init; }
    /// <summary>Either a plan request (the child lists the tests) or explicit tests (replay).</summary>
    public RunnerPlanRequest? Plan { get; init; }
    public List<RunnerTest>? Tests { get; init; }
    public required TimeSpan TestTimeout { get; init; }
    /// <summary>When the whole run must stop, leaving time to write results.</summary>
    public required DateTime Deadline { get; init; }
    public required int MemoryMb { get; init; }
    public required Toolset Toolset { get; init; }
}

/// <summary>One test run: what was planned and how it ended.</summary>
public sealed record TestRunResult(RunnerTest Test, OutcomeDto Outcome);

public sealed class ExecutionResult
{
    public List<TestRunResult> Results { get; } = new();
    public List<string> Notes { get; } = new();
    public string? Fault { get; set; }
    public int Children { get; set; }
    public List<string> Implementations { get; } = new();
}

/// <summary>
/// Runs tests in child processes and collects their results over the authenticated channel. A test
/// that hangs, overflows the stack, exhausts memory, exits the process or crashes it fails alone:
/// the parent records it and goes on with the next test in a fresh child. The parent alone scores.
/// </summary>
public static class TestExecutor
{
    /// <summary>Time a child gets to start and send its first record.</summary>
    private static readonly TimeSpan StartupLimit = TimeSpan.FromSeconds(30);

    public static ExecutionResult Run(ExecutionRequest request)
    {
        var result = new ExecutionResult();
        var done = new Dictionary<int, OutcomeDto>();
        List<RunnerTest>? plan = request.Tests;
        var runtimeConfig = WriteRuntimeConfig(request.RunDirectory);
        int fruitless = 0;

        while (true)
        {
            var remaining = plan?.Where(t => !done.ContainsKey(t.Index)).ToList();
            if (remaining is { Count: 0 })
                break;
            if (DateTime.UtcNow >= request.Deadline)
            {
                foreach (var t in remaining ?? new List<RunnerTest>())
                    done[t.Index] = Synthetic(t, "TimedOut", "Not run: the whole-run time limit was reached before this test started.");
                result.Notes.Add("The whole-run time limit was reached; the tests not yet run score 0.");
                if (plan is null)
                    result.Fault = "The whole-run time limit was reached before the tests could be listed.";
                break;
            }
            var job = new RunnerJob
            {
                StudentAssembly = TrustedBuild.SubmissionAssemblyName,
                HiddenAssemblyBase64 = request.HiddenAssembly is null ? null : Convert.ToBase64String(request.HiddenAssembly),
                Plan = plan is null ? request.Plan : null,
                Tests = remaining ?? new List<RunnerTest>(),
            };
            result.Children++;
            var progress = RunChild(request, runtimeConfig, job, done, ref plan, result);
            if (result.Fault is not null)
                break;
            if (progress)
                fruitless = 0;
            else if (++fruitless >= 2)
            {
                result.Fault ??= "The test process failed twice without running a test.";
                break;
            }
        }
        if (plan is not null)
        {
            foreach (var t in plan)
                result.Results.Add(new TestRunResult(t, done.TryGetValue(t.Index, out var o) ? o
                    : Synthetic(t, "Errored", "Not run: " + (result.Fault ?? "the grader stopped early."))));
        }
        return result;
    }

    private static bool RunChild(ExecutionRequest request, string runtimeConfig, RunnerJob job, Dictionary<int, OutcomeDto> done,
        ref List<RunnerTest>? plan, ExecutionResult result)
    {
        var key = RandomNumberGenerator.GetBytes(32);
        var runner = Path.Combine(request.RunDirectory, Path.GetFileName(request.Toolset.RunnerDll));
        var command = new List<string> { request.Toolset.DotnetHost, "exec", "--runtimeconfig", runtimeConfig, runner };
        int cpuSeconds = (int)Math.Ceiling(Math.Max(5, (request.Deadline - DateTime.UtcNow).TotalSeconds) * 2 + 10);
        var (file, args) = Sandbox.Wrap(command, request.RunDirectory, request.Toolset.DotnetRoot, cpuSeconds);
        var scratch = Directory.CreateTempSubdirectory("kh-child-").FullName;
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = scratch,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        psi.Environment.Clear();
        foreach (var (k, v) in Sandbox.Environment(request.Toolset.DotnetRoot, request.MemoryMb))
            psi.Environment[k] = v;

        bool progress = false;
        using var process = new Process { StartInfo = psi };
        var records = new BlockingCollection<(RunnerRecord? Record, string? Forged)>();
        var stderr = new StringBuilder();
        try
        {
            process.Start();
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                    return;
                lock (stderr)
                {
                    if (stderr.Length < 32_000)
                        stderr.Append(e.Data).Append('\n');
                }
            };
            process.BeginErrorReadLine();
            var reader = new Thread(() =>
            {
                long seq = 0;
                try
                {
                    string? line;
                    while ((line = process.StandardOutput.ReadLine()) is not null)
                    {
                        try
                        {
                            var r = Channel.Decode(key, seq, line);
                            if (r is null)
                                continue;
                            seq++;
                            records.Add((r, null));
                        }
                        catch (Exception ex) when (ex is FormatException or JsonException)
                        {
                            records.Add((null, ex.Message));
                            break;
                        }
                    }
                }
                catch (IOException)
                {
                }
                finally
                {
                    records.CompleteAdding();
                }
            }) { IsBackground = true, Name = "kh-child-reader" };
            reader.Start();

            // The key first, then the job; then stdin closes, before any student code is loaded.
            process.StandardInput.WriteLine(Convert.ToHexString(key));
            process.StandardInput.Write(JsonSerializer.Serialize(job, Channel.Json));
            process.StandardInput.Close();

            int current = -1;
            var waitUntil = Min(DateTime.UtcNow + StartupLimit, request.Deadline);
            bool finished = false;
            while (!finished)
            {
                var wait = waitUntil - DateTime.UtcNow;
                if (wait < TimeSpan.Zero)
                    wait = TimeSpan.Zero;
                if (!records.TryTake(out var item, wait))
                {
                    if (records.IsCompleted)
                    {
                        // The child's stdout closed: it exited (or was killed) — the running test is what killed it.
                        process.WaitForExit(5000);
                        if (current >= 0)
                        {
                            var t = plan!.First(x => x.Index == current);
                            done[current] = Crashed(t, process, stderr);
                            progress = true;
                        }
                        else if (plan is null || job.Tests.Any(t => !done.ContainsKey(t.Index)) && !progress)
                        {
                            var exit = process.HasExited ? process.ExitCode.ToString(CultureInfo.InvariantCulture) : "?";
                            if (plan is null)
                                result.Fault = $"The test process exited (code {exit}) before listing the tests. {Tail(stderr)}".Trim();
                        }
                        break;
                    }
                    // Timed out waiting: a hung test, a hung start, or the whole-run deadline.
                    ProcessRunner.Kill(process);
                    process.WaitForExit(5000);
                    if (current >= 0)
                    {
                        var t = plan!.First(x => x.Index == current);
                        bool wholeRun = DateTime.UtcNow >= request.Deadline;
                        done[current] = Synthetic(t, "TimedOut", wholeRun
                            ? "Stopped: the whole-run time limit was reached while this test ran."
                            : $"The test ran past its {request.TestTimeout.TotalSeconds.ToString("0.#", CultureInfo.InvariantCulture)} s limit (an infinite loop, or code that never returns?); the test process was killed.");
                        progress = true;
                    }
                    else if (plan is null)
                        result.Fault = "The test process did not start in time.";
                    break;
                }
                if (item.Forged is not null)
                {
                    ProcessRunner.Kill(process);
                    process.WaitForExit(5000);
                    if (current >= 0)
                    {
                        done[current] = Synthetic(plan!.First(x => x.Index == current), "Failed",
                            "The test process's result channel carried a record the grader did not write (forged output); the test fails.");
                        progress = true;
                    }
                    result.Notes.Add("A forged record on the result channel was rejected (" + item.Forged + ").");
                    break;
                }
                var r = item.Record!;
                switch (r.Type)
                {
                    case "hello":
                        if (result.Implementations.Count == 0 && r.Implementations is not null)
                            result.Implementations.AddRange(r.Implementations);
                        waitUntil = Min(DateTime.UtcNow + StartupLimit, request.Deadline);
                        break;
                    case "plan":
                        plan ??= r.Plan ?? new List<RunnerTest>();
                        waitUntil = Min(DateTime.UtcNow + StartupLimit, request.Deadline);
                        break;
                    case "start":
                        current = r.Index;
                        var test = plan?.FirstOrDefault(x => x.Index == current);
                        var limit = request.TestTimeout;
                        waitUntil = Min(DateTime.UtcNow + limit + TimeSpan.FromSeconds(2), request.Deadline);
                        _ = test;
                        break;
                    case "result":
                        if (r.Outcome is not null && r.Index == current)
                        {
                            done[current] = r.Outcome;
                            progress = true;
                        }
                        current = -1;
                        waitUntil = Min(DateTime.UtcNow + StartupLimit, request.Deadline);
                        break;
                    case "fatal":
                        result.Fault = r.Message ?? "The test process failed.";
                        finished = true;
                        break;
                    case "done":
                        finished = true;
                        break;
                }
            }
            if (!process.WaitForExit(5000))
                ProcessRunner.Kill(process);
        }
        catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException or IOException)
        {
            result.Fault = $"The test process could not be run: {ex.Message}";
            ProcessRunner.Kill(process);
        }
        finally
        {
            try
            {
                Directory.Delete(scratch, recursive: true);
            }
            catch (IOException)
            {
            }
            catch (UnauthorizedAccessException)
            {
            }
        }
        return progress;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    private static string Tail(StringBuilder stderr)
    {
        lock (stderr)
            return string.Join(" ", stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(5));
    }

    private static OutcomeDto Crashed(RunnerTest test, Process process, StringBuilder stderr)
    {
        string err;
        lock (stderr)
            err = stderr.ToString();
        int? code = process.HasExited ? process.ExitCode : null;
        string message;
        if (err.Contains("Stack overflow", StringComparison.OrdinalIgnoreCase))
            message = "The test process died of a stack overflow (unbounded recursion?).";
        else if (err.Contains("OutOfMemory", StringComparison.Ordinal) || err.Contains("out of memory", StringComparison.OrdinalIgnoreCase) || code == 137)
            message = "The test process ran out of memory (allocation without bound?).";
        else if (code == 0 || code == 3)
            message = $"The test process exited during the test (exit code {code}): the code under test ended the process.";
        else if (code is 152 or 158 or 137)
            message = $"The test process was killed by its CPU-time limit (exit code {code}).";
        else
            message = $"The test process crashed during the test (exit code {(code?.ToString(CultureInfo.InvariantCulture) ?? "?")}).";
        var o = Synthetic(test, "Errored", message);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("   at ", StringComparison.Ordinal) || l.Contains("Student", StringComparison.Ordinal)).Take(12).ToList();
        o.KernelLog = lines;
        return o;
    }

    internal static OutcomeDto Synthetic(RunnerTest t, string status, string message) => new()
    {
        Id = t.Id,
        Subsystem = t.Subsystem,
        Group = t.Group,
        Name = t.Name,
        Linux = t.Linux,
        Seed = t.Seed ?? 0,
        Status = status,
        Message = message,
    };

    private static string WriteRuntimeConfig(string runDir)
    {
        var path = Path.Combine(runDir, "kh-runner.runtimeconfig.json");
        var version = Environment.Version;
        File.WriteAllText(path,
            "{\n  \"runtimeOptions\": {\n    \"tfm\": \"net10.0\",\n    \"framework\": { \"name\": \"Microsoft.NETCore.App\", \"version\": \"" +
            $"{version.Major}.{version.Minor}.0" + "\" },\n    \"configProperties\": {\n      \"System.Globalization.Invariant\": true,\n      \"System.GC.Concurrent\": false\n    }\n  }\n}\n");
        return path;
    }
}
