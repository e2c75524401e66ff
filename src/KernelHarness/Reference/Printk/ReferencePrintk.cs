using KernelHarness.Runtime;
using KernelHarness.Subsystems;

namespace KernelHarness.Reference.Printk;

/// <summary>printk and the WARN/BUG macros (kernel/printk/printk.c, include/asm-generic/bug.h).</summary>
public sealed class ReferencePrintk : IPrintk
{
    private static Machine M => Machine.Current;

    public int printk(string message)
    {
        var (level, text) = KernelLog.ParseLevel(message ?? "", KernelLog.DefaultLevel);
        M.Log.Append(level, text);
        return text.Length;
    }

    public int pr_info(string message) => Log(6, message);

    public int pr_warn(string message) => Log(4, message);

    public int pr_err(string message) => Log(3, message);

    public int pr_debug(string message) => Log(7, message);

    private static int Log(int level, string message)
    {
        M.Log.Append(level, message ?? "");
        return message?.Length ?? 0;
    }

    public bool WARN_ON(bool condition)
    {
        if (condition)
            Warn("WARN_ON(condition)");
        return condition;
    }

    public bool WARN_ON_ONCE(bool condition)
    {
        if (condition)
        {
            var m = M;
            var location = StackCapture.FirstUserLocation(1) ?? "?";
            if (m.ReportOnce($"warn_once:{location}"))
                Warn("WARN_ON_ONCE(condition)");
        }
        return condition;
    }

    public bool WARN(bool condition, string message)
    {
        if (condition)
            Warn(message);
        return condition;
    }

    private static void Warn(string message)
    {
        var m = M;
        var t = m.CurrentTask;
        var location = StackCapture.FirstUserLocation(2) ?? "?";
        m.AddReport(new KernelReport
        {
            Kind = ReportKind.Warning,
            Title = $"WARNING: CPU: {t.cpu} PID: {t.pid} at {location}",
            Details = new[] { message },
            Pid = t.pid,
            Comm = t.comm,
            Cpu = t.cpu,
            Jiffies = m.Jiffies,
            Location = location,
            CallTrace = StackCapture.Capture(2),
        });
    }

    public void BUG_ON(bool condition)
    {
        if (!condition)
            return;
        var m = M;
        var location = StackCapture.FirstUserLocation(1) ?? "?";
        var title = $"kernel BUG at {location}!";
        m.Report(ReportKind.Oops, title, new[] { "Oops: invalid opcode: 0000 [#1] PREEMPT SMP KASAN" }, "BUG_ON");
        throw new KernelOopsException(title);
    }
}
