using System;
using System.Collections.Generic;
using System.Linq;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Conformance.Irq;

/// <summary>Helpers the irq (and driver) suites share: firing a line, reading the chain, finding warnings.</summary>
public static class IrqKit
{
    /// <summary>The report kinds an IRQ warning may take: the reference's own, or a student's WARN()/printk.</summary>
    public static readonly ReportKind[] WarningKinds = { ReportKind.Warning, ReportKind.IrqWarning, ReportKind.IrqNobodyCared };

    /// <summary>
    /// One interrupt on <paramref name="line"/> through the implementation's <c>generic_handle_irq</c>, in
    /// hard-IRQ context (interrupts off, HARDIRQ_OFFSET added) without the cost of a full delivery: what
    /// the 100,000-interrupt tests use.
    /// </summary>
    public static void Fire(IIrq irq, uint line)
    {
        bool enabled = !Arch.arch_irqs_disabled();
        Arch.arch_local_irq_disable();
        Arch.raw_preempt_count() += HARDIRQ_OFFSET;
        try
        {
            irq.generic_handle_irq(line);
        }
        finally
        {
            Arch.raw_preempt_count() -= HARDIRQ_OFFSET;
            if (enabled)
                Arch.arch_local_irq_enable();
        }
    }

    /// <summary>Raises the line at the controller and makes a kernel API call, so the interrupt is delivered on this CPU (if unmasked and interrupts are on).</summary>
    public static void RaiseAndDeliver(ConformanceContext ctx, uint line)
    {
        ctx.Machine.RaiseIrq(line);
        cpu_relax();
    }

    /// <summary>The names of the line's actions, in chain order.</summary>
    public static List<string> Chain(IIrq irq, uint line)
    {
        var names = new List<string>();
        int guard = 0;
        for (var a = irq.irq_to_desc(line)?.action; a is not null && guard++ < 10_000; a = a.next)
            names.Add(a.name);
        return names;
    }

    public static string Show(IEnumerable<string> names) => "[" + string.Join(", ", names) + "]";

    /// <summary>The descriptor of a line, failing the test when the implementation has none.</summary>
    public static irq_desc Desc(ConformanceContext ctx, IIrq irq, uint line) =>
        irq.irq_to_desc(line) ?? throw ctx.Fail($"irq_to_desc({line}) returned null for a line of the controller (kernel/irq/irqdesc.c: every line has a descriptor after early_irq_init)");

    /// <summary>How many kernel-log lines there are now (a mark for <see cref="LoggedSince"/>).</summary>
    public static int LogMark(ConformanceContext ctx) => ctx.Machine.Log.Lines.Count;

    /// <summary>True when a log line (a printk, a WARN or a report) since <paramref name="mark"/> contains <paramref name="text"/>.</summary>
    public static bool LoggedSince(ConformanceContext ctx, int mark, string text)
    {
        var lines = ctx.Machine.Log.Lines;
        for (int i = mark; i < lines.Count; i++)
        {
            if (lines[i].Text.Contains(text, StringComparison.Ordinal))
                return true;
        }
        return false;
    }

    /// <summary>Fails unless a warning (WARN, printk or report) containing <paramref name="text"/> was logged since <paramref name="mark"/>.</summary>
    public static void ExpectWarning(ConformanceContext ctx, int mark, string text, string rule)
    {
        ctx.AllowReports(WarningKinds);
        if (!LoggedSince(ctx, mark, text))
        {
            var since = ctx.Machine.Log.Lines.Skip(mark).Select(l => l.Text).Take(6).ToList();
            throw ctx.Fail(rule, $"a warning \"{text}\" in the kernel log", since.Count == 0 ? "nothing logged" : string.Join(" | ", since));
        }
    }

    /// <summary>A handler that counts its calls.</summary>
    public sealed class Counter
    {
        public int Calls;
        public irqreturn_t Result = IRQ_HANDLED;

        public irqreturn_t Handle(int irq, object? dev_id)
        {
            Calls++;
            return Result;
        }
    }
}
