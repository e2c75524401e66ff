// An I2C-sensor-style driver: interprocedural sleeps through helpers, a constant-argument helper,
// threaded interrupts and address-space locks.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.Sensor;

public sealed class Sensor
{
    private readonly spinlock_t state_lock = new();
    private readonly mutex bus_lock = new();
    private kptr sample = NULL;
    private int reading;
    private uint irq;

    public int probe(uint line)
    {
        irq = line;
        return request_threaded_irq(irq, sensor_hardirq, sensor_thread, IRQF_ONESHOT, "sensor", this);
    }

    private irqreturn_t sensor_hardirq(int n, object? dev)
    {
        wait_bus(false);
        read_bus(); // expect: KH1001
        return IRQ_WAKE_THREAD;
    }

    private irqreturn_t sensor_thread(int n, object? dev)
    {
        read_bus();
        sample = kmalloc(64, GFP_KERNEL);
        return IRQ_HANDLED;
    }

    private void wait_bus(bool may_sleep)
    {
        if (may_sleep)
            msleep(2);
        else
            udelay(200);
    }

    private void read_bus() => bus_xfer();

    private void bus_xfer()
    {
        mutex_lock(bus_lock);
        reading++;
        mutex_unlock(bus_lock);
    }

    public void update()
    {
        spin_lock(state_lock);
        wait_bus(true); // expect: KH1001
        spin_unlock(state_lock);
        mmap_read_lock(current.mm!);
        reading = 0;
        mmap_write_unlock(current.mm!); // expect: KH2004
    }

    public void stop()
    {
        spin_lock(state_lock);
        free_irq(irq, this); // expect: KH1001
        spin_unlock(state_lock);
    }
}
