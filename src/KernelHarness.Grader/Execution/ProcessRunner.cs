using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Text;
using System.Threading.Tasks;

namespace KernelHarness.Grader.Execution;

/// <summary>The end of a process run: exit code (null when killed on timeout) and its capped output.</summary>
public sealed record ProcessResult(int? ExitCode, bool TimedOut, string Output, TimeSpan Duration);

/// <summary>Runs a process with a time limit, capturing (a capped amount of) its output; kills its whole tree on timeout.</summary>
public static class ProcessRunner
{
    public static ProcessResult Run(string file, IEnumerable<string> args, string workingDirectory, TimeSpan timeout,
        IDictionary<string, string?>? environment = null, int maxOutputChars = 200_000)
    {
        var psi = new ProcessStartInfo(file)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
            psi.ArgumentList.Add(a);
        if (environment is not null)
        {
            foreach (var (k, v) in environment)
            {
                if (v is null)
                    psi.Environment.Remove(k);
                else
                    psi.Environment[k] = v;
            }
        }
        var sb = new StringBuilder();
        void Append(string? line)
        {
            if (line is null)
                return;
            lock (sb)
            {
                if (sb.Length < maxOutputChars)
                    sb.Append(line).Append('\n');
            }
        }
        var sw = Stopwatch.StartNew();
        using var p = new Process { StartInfo = psi };
        p.OutputDataReceived += (_, e) => Append(e.Data);
        p.ErrorDataReceived += (_, e) => Append(e.Data);
        p.Start();
        p.StandardInput.Close();
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        // WaitForExit(int) does not wait for EOF on redirected streams, which build servers may hold open.
        bool exited = p.WaitForExit((int)Math.Min(int.MaxValue, timeout.TotalMilliseconds));
        if (!exited)
        {
            Kill(p);
            p.WaitForExit(5000);
        }
        else
        {
            // Give the readers a moment to drain what the process wrote before it exited.
            Task.Delay(50).Wait();
        }
        string output;
        lock (sb)
            output = sb.ToString();
        return new ProcessResult(exited ? p.ExitCode : null, !exited, output, sw.Elapsed);
    }

    public static void Kill(Process p)
    {
        try
        {
            p.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        catch (System.ComponentModel.Win32Exception)
        {
        }
    }
}
