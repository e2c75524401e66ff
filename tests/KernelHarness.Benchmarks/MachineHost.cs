using System;
using System.Threading;
using KernelHarness.Runtime;

namespace KernelHarness.Benchmarks;

/// <summary>
/// A long-lived simulated machine whose init task runs whatever it is given: benchmark loops run
/// inside the machine (kernel API calls need a task and a CPU), while the benchmark driver stays
/// on its own thread. One hand-over per invocation, amortised over thousands of operations.
/// </summary>
public sealed class MachineHost : IDisposable
{
    private readonly SemaphoreSlim request = new(0, 1);
    private readonly SemaphoreSlim done = new(0, 1);
    private readonly Thread runner;
    private Action? work;
    private Exception? error;
    private volatile bool quit;

    public MachineHost(MachineConfig config)
    {
        Machine = new Machine(config with { WallClockLimit = TimeSpan.FromDays(1) });
        runner = new Thread(() => Machine.Run(Serve)) { IsBackground = true, Name = "kh-bench-host" };
        runner.Start();
    }

    public Machine Machine { get; }

    private void Serve()
    {
        while (true)
        {
            request.Wait();
            if (quit)
                return;
            try
            {
                work!();
            }
            catch (Exception ex)
            {
                error = ex;
            }
            done.Release();
        }
    }

    /// <summary>Runs <paramref name="body"/> on the machine's init task and waits for it.</summary>
    public void Execute(Action body)
    {
        work = body;
        request.Release();
        done.Wait();
        if (error is { } ex)
        {
            error = null;
            throw new InvalidOperationException("The benchmark body failed inside the machine.", ex);
        }
    }

    public void Dispose()
    {
        quit = true;
        request.Release();
        runner.Join();
    }

    /// <summary>The production-like configuration: no lockdep, no KASAN, no trace.</summary>
    public static MachineConfig Production => new() { Seed = 1, Lockdep = false, Kasan = false, Trace = false, CaptureBlockedStacks = false };

    /// <summary>The debug-kernel configuration students and the grader run with (the defaults).</summary>
    public static MachineConfig Debug => new() { Seed = 1 };
}
