using KernelHarness.Annotations;
using KernelHarness.Runtime;

namespace KernelHarness.Conformance.Driver;

/// <summary>
/// The "driver" assignment: a student's small network-style device driver with an IRQ handler, a
/// tasklet, a timer and a work item. It is not a kernel subsystem (nothing is bound in its place):
/// its suite runs it on the reference kernel and grades what it does and what the debug kernel reports.
/// It carries <see cref="KernelSubsystemAttribute"/> like the subsystem interfaces so the grader and the
/// tests find a student's implementation the same way.
/// </summary>
[KernelSubsystem("driver", "IDriverAssignment", Assignable = true)]
public interface IDriverAssignment
{
    /// <summary>Sets the driver up on <paramref name="dev"/> (request its IRQ, set up the tasklet, timer and work); 0 or a negative errno.</summary>
    int probe(SimNetDevice dev);

    /// <summary>Tears everything down: after it returns, none of the driver's callbacks runs again.</summary>
    void remove();

    /// <summary>Packets the tasklet has taken off the device so far.</summary>
    long packets { get; }

    /// <summary>Times the watchdog timer fired.</summary>
    int watchdog_runs { get; }

    /// <summary>Times the reset work item ran.</summary>
    int resets { get; }
}

/// <summary>
/// The simulated device: a receive counter the hardware fills and the driver reads, and an interrupt
/// line it raises (shared: the handler must return IRQ_NONE when the device has nothing pending).
/// </summary>
public sealed class SimNetDevice
{
    public SimNetDevice(uint irq) => this.irq = irq;

    /// <summary>The device's interrupt line (request it with IRQF_SHARED: other devices may share it).</summary>
    public readonly uint irq;

    private int rx_pending;

    /// <summary>Interrupts the hardware raised.</summary>
    public int raised { get; private set; }

    /// <summary>Resets the driver performed (<see cref="reset"/> calls).</summary>
    public int hw_resets { get; private set; }

    /// <summary>The hardware receives <paramref name="n"/> packets and raises its interrupt.</summary>
    public void receive(int n)
    {
        rx_pending += n;
        raised++;
        Machine.Current.RaiseIrq(irq);
    }

    /// <summary>The interrupt status register: packets received and not yet acknowledged (0: this interrupt is not ours).</summary>
    public int irq_status() => rx_pending;

    /// <summary>Acknowledges the interrupt: returns the packets received and clears the counter (read-to-clear, call in the handler).</summary>
    public int ack()
    {
        int n = rx_pending;
        rx_pending = 0;
        return n;
    }

    /// <summary>Resets the hardware (may be called only from process context: the reset takes milliseconds).</summary>
    public void reset() => hw_resets++;
}
