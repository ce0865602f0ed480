package org.livetrain.terminal;

import org.livetrain.image.InputContract;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A prepared input drawn in a terminal, as the network sees it (normalisation undone): on a colour terminal
 * two pixels per character with Unicode half blocks (the upper pixel in the foreground colour, the lower in
 * the background); elsewhere one ASCII shade per pixel, twice as wide as high.
 */
final class InputPicture {
    private static final String SHADES = " .:-=+*#%@";

    private InputPicture() {
    }

    static List<String> lines(float[] input, InputContract c, boolean colour) {
        int rows = c.height(), cols = c.width();
        List<String> out = new ArrayList<>();
        if (colour) {
            for (int r = 0; r < rows; r += 2) {
                StringBuilder b = new StringBuilder();
                for (int col = 0; col < cols; col++) {
                    int[] top = rgb(input, c, r, col), bottom = r + 1 < rows ? rgb(input, c, r + 1, col) : new int[3];
                    b.append(String.format(Locale.ROOT, "\033[38;2;%d;%d;%dm\033[48;2;%d;%d;%dm\u2580", top[0], top[1], top[2], bottom[0], bottom[1], bottom[2]));
                }
                out.add(b.append("\033[0m").toString());
            }
        } else {
            for (int r = 0; r < rows; r++) {
                StringBuilder b = new StringBuilder();
                for (int col = 0; col < cols; col++) {
                    int[] p = rgb(input, c, r, col);
                    double grey = (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) / 255;
                    char shade = SHADES.charAt((int) Math.min(SHADES.length() - 1, Math.round(grey * (SHADES.length() - 1))));
                    b.append(shade).append(shade);
                }
                out.add(b.toString().stripTrailing());
            }
        }
        return out;
    }

    /** The pixel at (r, col) in 8-bit red, green, blue, the contract's normalisation undone. */
    private static int[] rgb(float[] input, InputContract c, int r, int col) {
        int plane = c.height() * c.width();
        int[] v = new int[3];
        for (int k = 0; k < 3; k++) {
            int ch = c.channels() == 1 ? 0 : k;
            float x = input[ch * plane + r * c.width() + col];
            if (c.std() != null) x *= c.std()[ch];
            if (c.mean() != null) x += c.mean()[ch];
            v[k] = Math.round(255 * Math.max(0f, Math.min(1f, x)));
        }
        return v;
    }
}
