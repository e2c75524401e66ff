using System;
using System.Collections.Generic;
using System.Globalization;
using System.Text;

namespace KernelHarness.Runtime;

/// <summary>One line of the kernel log.</summary>
public readonly record struct KernelLogLine(int Level, ulong Jiffies, int Cpu, string Text)
{
    /// <summary>As <c>dmesg</c> prints it: <c>[    1.230000] text</c>, time since boot from jiffies.</summary>
    public string Format(ulong bootJiffies)
    {
        ulong ticks = Jiffies - bootJiffies;
        ulong secs = ticks / Kernel.HZ;
        ulong micros = ticks % Kernel.HZ * (1_000_000 / Kernel.HZ);
        return string.Create(CultureInfo.InvariantCulture, $"[{secs,5}.{micros:D6}] {Text}");
    }
}

/// <summary>The kernel log (<c>dmesg</c>): what <c>printk</c> wrote and every report, in order.</summary>
public sealed class KernelLog
{
    private readonly List<KernelLogLine> lines = new();
    private readonly Machine machine;

    internal KernelLog(Machine machine) => this.machine = machine;

    /// <summary>Every line so far.</summary>
    public IReadOnlyList<KernelLogLine> Lines => lines;

    /// <summary>Default log level (<c>KERN_WARNING</c> = 4 is Linux's default message level).</summary>
    public const int DefaultLevel = 4;

    internal void Append(int level, string text)
    {
        int cpu = machine.CurrentCpuIdOrZero;
        foreach (var part in text.Split('\n'))
        {
            if (part.Length == 0)
                continue;
            lines.Add(new KernelLogLine(level, machine.JiffiesRaw, cpu, part));
        }
    }

    /// <summary>Splits a leading <c>KERN_*</c> prefix off a message.</summary>
    internal static (int Level, string Text) ParseLevel(string message, int fallback)
    {
        if (message.Length >= 2 && message[0] == '\u0001' && message[1] >= '0' && message[1] <= '7')
            return (message[1] - '0', message[2..]);
        return (fallback, message);
    }

    /// <summary>The whole log as <c>dmesg</c> prints it.</summary>
    public string Dump()
    {
        var sb = new StringBuilder();
        foreach (var line in lines)
            sb.Append(line.Format(machine.Config.InitialJiffies)).Append('\n');
        return sb.ToString();
    }

    public override string ToString() => Dump();
}
