using System;
using KernelHarness;
using KernelHarness.Conformance.Driver;
using static KernelHarness.Kernel;

namespace StudentKernel;

/// <summary>
/// Your driver for the simulated network device (<see cref="SimNetDevice"/>): <c>probe</c> requests its
/// shared IRQ, sets up a tasklet that counts the received packets, a watchdog timer and a reset work
/// item; <c>remove</c> tears everything down. Every member below is a stub that fails with a message
/// naming what to write. The public driver tests run it on the reference kernel: <c>dotnet test</c>.
/// Keep the public parameterless constructor, and do not call the kernel API from it.
/// </summary>
public sealed class NetDriver : IDriverAssignment
{
    /// <summary>Packets the tasklet has taken off the device so far.</summary>
    public long packets => 0;

    /// <summary>Times the watchdog timer fired.</summary>
    public int watchdog_runs => 0;

    /// <summary>Times the reset work item ran.</summary>
    public int resets => 0;

    /// <summary>
    /// Sets the driver up on <paramref name="dev"/>: <c>tasklet_setup</c>, <c>timer_setup</c>,
    /// <c>INIT_WORK</c>, then <c>request_irq(dev.irq, handler, IRQF_SHARED, "simnet", this)</c> and
    /// <c>mod_timer</c>. Returns 0 or a negative errno.
    /// </summary>
    public int probe(SimNetDevice dev)
    {
        throw Todo("probe", "request_irq in kernel/irq/manage.c, tasklet_setup in kernel/softirq.c");
    }

    /// <summary>Tears everything down: after it returns, none of the driver's callbacks runs again.</summary>
    public void remove()
    {
        throw Todo("remove", "free_irq in kernel/irq/manage.c, del_timer_sync in kernel/time/timer.c");
    }

    private static NotImplementedException Todo(string function, string linux) =>
        new($"{function}() is not implemented yet: write it in Driver.cs (in Linux: {linux}). See README.md.");
}
