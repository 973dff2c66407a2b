import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.Properties;

/** Reads every row of a query through the BFF with the Trino JDBC driver: JdbcRows <url> <sql> (token in TRINO_TOKEN, CA in TRINO_CA). */
public class JdbcRows {
    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.setProperty("accessToken", System.getenv("TRINO_TOKEN"));
        p.setProperty("SSL", "true");
        p.setProperty("SSLTrustStorePath", System.getenv("TRINO_CA"));
        try (Connection c = DriverManager.getConnection(args[0], p); Statement s = c.createStatement()) {
            long rows = 0;
            long sum = 0;
            try (ResultSet r = s.executeQuery(args[1])) {
                while (r.next()) {
                    rows++;
                    sum += r.getLong(1);
                }
            }
            String user;
            try (ResultSet r = s.executeQuery("SELECT current_user")) {
                r.next();
                user = r.getString(1);
            }
            System.out.println("rows=" + rows + " sum=" + sum + " user=" + user);
        }
    }
}
